//! The canonical dossier and status event models (`POST /v1/dossiers`, events, `hoso.json`):
//! any JSON is accepted or refused with field errors, never a panic; an accepted dossier
//! serializes and is accepted again as the same dossier.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_mappings::{Dossier, StatusEvent};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(d) = Dossier::from_json(value.clone()) {
        let again = serde_json::to_value(&d).expect("a dossier serializes");
        let reread = Dossier::from_json(again).expect("a serialized dossier is valid");
        assert_eq!(
            serde_json::to_value(&reread).expect("serializes"),
            serde_json::to_value(&d).expect("serializes")
        );
    }
    let _ = StatusEvent::from_json(value);
});
