//! The mapping-spec loader (`mappings/specs/*.toml`, `lienthong mapping check`): the input is a
//! code-table file and a mapping file separated by a line `#---`. Compiling them ends in a
//! mapping set or errors with file and line, never a panic; a compiled mapping renders the
//! example dossier (or refuses it with a render error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_mappings::MappingSet;

const DOSSIER: &str = include_str!("../../examples/dossier-business-registration.json");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (codes, mapping) = text.split_once("\n#---\n").unwrap_or(("", text));
    let files = [("codes.toml", codes), ("hoso.toml", mapping)];
    let Ok(set) = MappingSet::from_sources("fuzz", &files) else {
        return;
    };
    let dossier: serde_json::Value = serde_json::from_str(DOSSIER).expect("example dossier");
    let input = serde_json::json!({ "dossier": dossier, "event": null });
    let _ = set.render("hoso", &dossier);
    let _ = set.render("hoso", &input);
    let _ = set.render_xml("hoso", &dossier);
});
