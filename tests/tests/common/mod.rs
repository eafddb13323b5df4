//! Shared by the exchange test binaries: edXML dossier messages from the province to the
//! commune, as the province's gateway would send them, signed by a chosen certificate.

use std::sync::Arc;

use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::Leaf;
use lienthong_certs::xmldsig::{Signer, XmlSignatureAlgorithm};
use lienthong_connectors::peer::BUILTIN_MAPPINGS as EDXML_FILES;
use lienthong_connectors::peer::{DOSSIER_DATA_ID, DOSSIER_DATA_TYPE, sign_edxml};
use lienthong_mappings::{Agency, Attachment, Dossier, ExchangeInput, MappingSet};
use time::OffsetDateTime;

/// An XML-DSig signer (RSA-SHA256) with `leaf`'s key and certificate.
pub fn xml_signer(leaf: &Leaf) -> Signer {
    let key = Arc::new(PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "key").expect("key"));
    Signer::new(
        key,
        vec![leaf.cert.clone()],
        XmlSignatureAlgorithm::RsaSha256,
    )
    .expect("signer")
}

/// The commune's agency code: where the province's documents are addressed.
pub const COMMUNE: &str = "000.00.12.H37";

/// An edXML dossier message from the province to `to`, sent at `at`, before signing.
pub fn unsigned_province_message(code: &str, number: &str, at: OffsetDateTime, to: &str) -> String {
    let mut dossier: Dossier = serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))
    .expect("example");
    dossier.code = code.into();
    let mut input = ExchangeInput::envelope(
        Agency {
            code: "000.02.01.H37".into(),
            name: "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình".into(),
        },
        Agency {
            code: to.into(),
            name: "UBND xã Gia Viễn".into(),
        },
        number,
        "LT",
        at,
    );
    // The canonical dossier travels as `hoso.json`, as the peer connector sends it.
    let data = serde_json::to_vec(&dossier).expect("dossier json");
    input.attachments = vec![Attachment {
        content_id: DOSSIER_DATA_ID.into(),
        content_type: DOSSIER_DATA_TYPE.into(),
        name: "hoso.json".into(),
        description: "Dữ liệu hồ sơ".into(),
        content: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data),
    }];
    input.dossier = Some(dossier);
    let set = MappingSet::from_sources("edxml", EDXML_FILES).expect("mappings");
    set.render_xml("dossier", &serde_json::to_value(&input).expect("input"))
        .expect("render")
}

/// An edXML dossier message from the province to the commune, sent at `at`, signed by `by`.
pub fn signed_province_message(
    code: &str,
    number: &str,
    at: OffsetDateTime,
    by: &Signer,
) -> String {
    sign_edxml(&unsigned_province_message(code, number, at, COMMUNE), by).expect("sign")
}
