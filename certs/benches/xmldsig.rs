//! `cargo bench -p lienthong-certs --bench xmldsig`: XML-DSig sign and verify operations per
//! second on a 20 KiB edXML document (RSA-2048 and ECDSA P-256), and exclusive C14N throughput.
//!
//! It also writes the document, keys and certificates to `target/bench-xmldsig/` so that
//! `scripts/bench-xmlsec.py` can run xmlsec1 (through Python's in-process `xmlsec` binding) on
//! exactly the same input. A plain timing loop is used (no criterion): each figure is the best of
//! five runs of at least one second. The same signatures with the keys on a SoftHSM2 token follow
//! (skipped, and said so, when SoftHSM2 is not installed).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::Pki;
use lienthong_certs::xml::{Apex, Document, Limits, Method, canonicalize};
use lienthong_certs::xmldsig::{
    Expected, Placement, SignOptions, Signer, VerifyPolicy, XmlSignatureAlgorithm, sign, verify,
};

const NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// A realistic edXML dossier message of about 20 KiB: header, trace, manifest and two
/// attachments carried inline.
fn document() -> String {
    let attachment = base64::engine::general_purpose::STANDARD.encode(
        "Đơn đề nghị đăng ký thành lập doanh nghiệp — Công ty TNHH Thương mại Ninh Bình. "
            .repeat(57)
            .as_bytes(),
    );
    let mut steps = String::new();
    for i in 0..20 {
        steps.push_str(&format!(
            "<edXML:TraceHeader><edXML:OrganId>000.{i:02}.01.H37</edXML:OrganId><edXML:Timestamp>2026/11/28 10:{i:02}:00</edXML:Timestamp></edXML:TraceHeader>"
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXMLEnvelope xmlns:edXML="{NS}">
<edXML:edXMLHeader>
<edXML:MessageHeader>
<edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:OrganName>Trung tâm Phục vụ hành chính công tỉnh Ninh Bình</edXML:OrganName><edXML:OrganAdd>Phường Hoa Lư, tỉnh Ninh Bình</edXML:OrganAdd></edXML:From>
<edXML:To><edXML:OrganId>000.00.12.H37</edXML:OrganId><edXML:OrganName>UBND xã Gia Viễn</edXML:OrganName></edXML:To>
<edXML:DocumentId>000.02.01.H37,2026/11/28,1234/LT</edXML:DocumentId>
<edXML:Subject>Hồ sơ liên thông: đăng ký thành lập doanh nghiệp &amp; đăng ký thuế</edXML:Subject>
<edXML:OtherInfo><edXML:Priority>0</edXML:Priority><edXML:ReferenceCodes>000.02.01.H37-261128-0001</edXML:ReferenceCodes></edXML:OtherInfo>
</edXML:MessageHeader>
<edXML:TraceHeaderList>{steps}<edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType></edXML:Bussiness></edXML:TraceHeaderList>
</edXML:edXMLHeader>
<edXML:edXMLBody><edXML:edXMLManifest version="1.0"><edXML:Reference><edXML:ContentId>cid:1</edXML:ContentId><edXML:ContentType>application/pdf</edXML:ContentType><edXML:AttachmentName>don-de-nghi.pdf</edXML:AttachmentName></edXML:Reference></edXML:edXMLManifest></edXML:edXMLBody>
<edXML:AttachmentEncoded><edXML:Attachment><edXML:ContentId>cid:1</edXML:ContentId><edXML:ContentTransferEncoded>{attachment}</edXML:ContentTransferEncoded></edXML:Attachment><edXML:Attachment><edXML:ContentId>cid:2</edXML:ContentId><edXML:ContentTransferEncoded>{attachment}</edXML:ContentTransferEncoded></edXML:Attachment></edXML:AttachmentEncoded>
</edXML:edXMLEnvelope>
"#
    )
}

/// Operations per second: best of five runs of at least one second.
fn rate(mut op: impl FnMut()) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(1) {
            op();
            n += 1;
        }
        best = best.max(n as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    if std::env::var_os("LIENTHONG_BENCH_TOKEN_DIR").is_some() {
        // The run with SoftHSM2 configured: the token rows only.
        let pki = Pki::new("Bench Root");
        token_keys(&document(), &pki, &pki.store("bench"));
        return;
    }
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-xmldsig");
    std::fs::create_dir_all(&out_dir).expect("output dir");
    let doc = document();
    std::fs::write(out_dir.join("edxml.xml"), &doc).expect("write document");
    let pki = Pki::new("Bench Root");
    pki.write_ca(&out_dir);
    let store = pki.store("bench");
    println!("document: {} bytes", doc.len());

    let parsed = Document::parse(&doc, Limits::default()).expect("parse");
    let exc = Method::Exclusive {
        with_comments: false,
        inclusive_prefixes: vec![],
    };
    let c14n_rate = rate(|| {
        let d = Document::parse(black_box(&doc), Limits::default()).expect("parse");
        black_box(canonicalize(&d, Apex::Document, &exc, None));
    });
    let c14n_only = rate(|| {
        black_box(canonicalize(black_box(&parsed), Apex::Document, &exc, None));
    });
    let mb = doc.len() as f64 / 1e6;
    println!(
        "exclusive C14N: parse+canonicalize {:.1} MB/s, canonicalize only {:.1} MB/s",
        c14n_rate * mb,
        c14n_only * mb
    );

    let expected = Expected::WholeDocument;
    let policy = VerifyPolicy::new(&store, &expected);
    for (name, key_alg, alg) in [
        (
            "rsa2048",
            &rcgen::PKCS_RSA_SHA256,
            XmlSignatureAlgorithm::RsaSha256,
        ),
        (
            "p256",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            XmlSignatureAlgorithm::EcdsaSha256,
        ),
    ] {
        let leaf = pki.leaf("Bench signer", key_alg, &[]);
        leaf.write(&out_dir, name);
        let key = Arc::new(PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "bench").expect("key"));
        let raw = rate(|| {
            black_box(
                key.sign(key.default_algorithm(), black_box(b"SignedInfo"))
                    .expect("sign"),
            );
        });
        let signer = Signer::new(key, vec![leaf.cert.clone()], alg).expect("signer");
        let options = SignOptions {
            placement: Placement::After {
                ns: NS.into(),
                local: "TraceHeaderList".into(),
            },
            ..SignOptions::default()
        };
        let signed = sign(&doc, &signer, &options).expect("sign");
        verify(&signed, &policy).expect("verify");
        let sign_rate = rate(|| {
            black_box(sign(black_box(&doc), &signer, &options).expect("sign"));
        });
        let verify_rate = rate(|| {
            black_box(verify(black_box(&signed), &policy).expect("verify"));
        });
        let both = rate(|| {
            let s = sign(black_box(&doc), &signer, &options).expect("sign");
            black_box(verify(&s, &policy).expect("verify"));
        });
        println!(
            "{name}: sign {sign_rate:.0}/s, verify {verify_rate:.0}/s, sign+verify {both:.0}/s (the bare private-key operation alone: {raw:.0}/s)"
        );
    }
    println!("inputs for scripts/bench-xmlsec.py: {}", out_dir.display());
    token_keys(&doc, &pki, &store);
}

/// Where SoftHSM2's module may be.
const SOFTHSM: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

/// The same signatures with the keys on a PKCS#11 token (SoftHSM2, keys generated on it,
/// non-extractable): what a signed delivery pays for its signature when the center's key is
/// on a token instead of in a file. SoftHSM reads `SOFTHSM2_CONF` when its module loads, so
/// the bench prepares a token and runs itself again with the variable set.
fn token_keys(doc: &str, pki: &Pki, store: &lienthong_certs::trust::TrustStore) {
    use lienthong_certs::pkcs11::TokenKeyConfig;
    use lienthong_certs::pkcs11::keygen::{KeygenKind, generate_key_pair};
    let Some(module) = SOFTHSM.iter().map(PathBuf::from).find(|p| p.exists()) else {
        println!("token: SoftHSM2 is not installed (apt-get install softhsm2): rows skipped");
        return;
    };
    let Some(dir) = std::env::var_os("LIENTHONG_BENCH_TOKEN_DIR").map(PathBuf::from) else {
        let dir = tempfile::tempdir().expect("token dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("tokens");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("conf");
        let init = std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "bench",
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        std::fs::write(dir.path().join("pin"), "1234").expect("pin");
        let status = std::process::Command::new(std::env::current_exe().expect("this bench"))
            .env("SOFTHSM2_CONF", &conf)
            .env("LIENTHONG_BENCH_TOKEN_DIR", dir.path())
            .status()
            .expect("the bench again");
        assert!(status.success());
        return;
    };
    let expected = Expected::WholeDocument;
    let policy = VerifyPolicy::new(store, &expected);
    for (name, kind, alg) in [
        (
            "rsa2048",
            KeygenKind::Rsa2048,
            XmlSignatureAlgorithm::RsaSha256,
        ),
        (
            "p256",
            KeygenKind::EcdsaP256,
            XmlSignatureAlgorithm::EcdsaSha256,
        ),
    ] {
        let config = TokenKeyConfig {
            module: module.clone(),
            token_label: Some("bench".into()),
            token_serial: None,
            key_label: Some(name.into()),
            key_id: None,
            pin_file: dir.join("pin"),
        };
        generate_key_pair(&config, name, name.as_bytes(), kind).expect("key on the token");
        let key = Arc::new(PrivateKey::from_token(&config).expect("token key"));
        let spki = key.subject_public_key_info().expect("public key");
        let (cert, _) = pki.certificate_for("Bench token signer", &spki, &[]);
        let raw = rate(|| {
            black_box(
                key.sign(key.default_algorithm(), black_box(b"SignedInfo"))
                    .expect("sign"),
            );
        });
        let signer = Signer::new(key, vec![cert], alg).expect("signer");
        let options = SignOptions {
            placement: Placement::After {
                ns: NS.into(),
                local: "TraceHeaderList".into(),
            },
            ..SignOptions::default()
        };
        let signed = sign(doc, &signer, &options).expect("sign");
        verify(&signed, &policy).expect("a token signature verifies");
        let sign_rate = rate(|| {
            black_box(sign(black_box(doc), &signer, &options).expect("sign"));
        });
        println!(
            "{name} on SoftHSM2: sign {sign_rate:.0}/s (the bare private-key operation alone: {raw:.0}/s)"
        );
    }
}
