//! What the fuzz targets share: the fixed trust store their signed seeds chain to, and the way
//! an input is cut into fields.
//!
//! The seeds under `fuzz/seeds/` were signed once with a key made for fuzzing and then thrown
//! away; only its CA certificate (`seeds/signing-ca.pem`, valid until 2046) is kept, so the
//! targets can check signatures exactly as the gateway does. See `fuzz/README.md`.

use std::sync::{Arc, OnceLock};

use lienthong_certs::trust::TrustStore;

/// The trust store of the signed seeds.
pub fn trust() -> Arc<TrustStore> {
    static STORE: OnceLock<Arc<TrustStore>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let pem = include_bytes!("../seeds/signing-ca.pem");
            let anchors = lienthong_certs::keys::parse_certificates(pem, "fuzz CA")
                .expect("the fuzz CA parses");
            Arc::new(
                TrustStore::from_parts("fuzz", anchors, vec![], vec![], false)
                    .expect("the fuzz trust store builds"),
            )
        })
        .clone()
}

/// Cuts `data` into `n` fields at the first `n - 1` line feeds (the last field takes the rest).
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == b'\n').collect()
}

#[cfg(test)]
mod tests {
    use lienthong_certs::xml::Limits;
    use lienthong_connectors::investment::result::InvestmentResult;
    use lienthong_connectors::peer::inbound::{KnownPeer, Receiver, read};

    /// The signed seeds pass, so the fuzzer starts from documents the gateway accepts (and not
    /// only from ones refused at the first check). Run with `cargo test --manifest-path
    /// fuzz/Cargo.toml`.
    #[test]
    fn the_signed_seeds_are_accepted() {
        let peers = [KnownPeer {
            organ_id: "000.02.01.H37".into(),
            trust: super::trust(),
            signers: vec![],
        }];
        let receiver = Receiver {
            organ_id: "000.00.12.H37",
            peers: &peers,
            limits: Limits::default(),
        };
        for seed in [
            include_str!("../seeds/edxml_inbound/dossier.xml"),
            include_str!("../seeds/edxml_inbound/status.xml"),
        ] {
            read(seed, &receiver).expect("seed accepted");
        }
        InvestmentResult::read(
            include_str!("../seeds/xmldsig_verify/investment-result.xml"),
            &super::trust(),
            &["Trung tam PVHCC tinh Ninh Binh".to_owned()],
        )
        .expect("investment seed accepted");
    }
}
