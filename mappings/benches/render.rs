//! `cargo bench -p lienthong-mappings --bench render`: what one dossier costs the gateway's intake
//! step before the store, per operation — parsing and validating the canonical JSON, serialising
//! it, and rendering it for DVCQG with the built-in mapping (the outbox renders each destination
//! once at intake as the proof that it can be sent; the delivery renders it again, see
//! `gateway/src/outbox.rs`). A plain timing loop (no criterion): each figure is the best of five
//! runs of at least one second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lienthong_mappings::{Dossier, MappingSet};

/// Operations per second of `op`, the best of five runs of at least a second each.
fn per_second(mut op: impl FnMut()) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(1) {
            for _ in 0..100 {
                op();
            }
            n += 100;
        }
        best = best.max(n as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let text = include_str!("../../examples/dossier-business-registration.json");
    let set =
        MappingSet::from_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/dvcqg"))
            .expect("the DVCQG mapping files");
    let dossier = Dossier::from_json(serde_json::from_str(text).expect("json")).expect("valid");
    let input = serde_json::to_value(&dossier).expect("value");
    println!("one dossier ({} bytes of JSON):", text.len());
    let rows: [(&str, f64); 4] = [
        (
            "parse and validate (Dossier::from_json)",
            per_second(|| {
                let v: serde_json::Value = serde_json::from_str(black_box(text)).expect("json");
                black_box(Dossier::from_json(v).expect("valid"));
            }),
        ),
        (
            "serialise (serde_json::to_string)",
            per_second(|| {
                black_box(serde_json::to_string(black_box(&dossier)).expect("json"));
            }),
        ),
        (
            "to the mapping's input (serde_json::to_value)",
            per_second(|| {
                black_box(serde_json::to_value(black_box(&dossier)).expect("value"));
            }),
        ),
        (
            "render for DVCQG (hoso mapping)",
            per_second(|| {
                black_box(set.render("hoso", black_box(&input)).expect("renders"));
            }),
        ),
    ];
    for (what, rate) in rows {
        println!("  {what:<48} {rate:>10.0}/s  {:>7.1} µs", 1e6 / rate);
    }
}
