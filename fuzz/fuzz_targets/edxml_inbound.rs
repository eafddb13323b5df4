//! Reading a received edXML message (`/v1/exchange`, the axis): any input ends in an `Inbound`
//! or an `InboundError` with its HTTP status, never a panic; an accepted message comes from the
//! configured peer and is addressed to this center.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_certs::xml::Limits;
use lienthong_connectors::peer::inbound::{KnownPeer, Receiver, read};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let peers = [KnownPeer {
        organ_id: "000.02.01.H37".into(),
        trust: lienthong_fuzz::trust(),
        signers: vec![],
    }];
    let receiver = Receiver {
        organ_id: "000.00.12.H37",
        peers: &peers,
        limits: Limits::default(),
    };
    match read(text, &receiver) {
        Ok(m) => {
            assert_eq!(m.from, "000.02.01.H37");
            let _ = m.dedupe_key();
            for a in &m.attachments {
                let _ = a.size_and_sha256();
            }
        }
        Err(e) => assert!(matches!(e.http_status(), 400 | 401 | 403)),
    }
});
