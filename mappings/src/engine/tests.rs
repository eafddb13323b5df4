use serde_json::{Value, json};

use super::*;

/// The repository's mapping files of `specs/<dir>` as `(name, text)`: test data. The mappings
/// crate knows no kind; each kind's connector compiles its files in (`BUILTIN_MAPPINGS`), and
/// the engine is tested here on the same files.
pub(super) fn spec_files(dir: &str) -> &'static [(&'static str, &'static str)] {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs")
        .join(dir);
    let mut files: Vec<(&'static str, &'static str)> = std::fs::read_dir(&path)
        .expect("the specs directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("read");
            (&*name.leak(), &*text.leak())
        })
        .collect();
    files.sort_unstable();
    Box::leak(files.into_boxed_slice())
}

fn dvcqg() -> MappingSet {
    MappingSet::from_sources("dvcqg", spec_files("dvcqg")).expect("built-in DVCQG mappings compile")
}

/// Every kind loads one way: built-in files named `builtin:<kind>` unless a directory is given,
/// and each required mapping checked, its absence or wrong input named.
#[test]
fn a_kind_loads_its_built_in_set_or_its_directory_and_checks_what_it_requires() {
    let set = MappingSet::for_kind(
        "dvcqg",
        None,
        spec_files("dvcqg"),
        &[("hoso", InputKind::Dossier)],
    )
    .expect("built-in");
    assert_eq!(set.origin(), "builtin:dvcqg");
    let missing = MappingSet::for_kind(
        "dvcqg",
        None,
        spec_files("dvcqg"),
        &[("nothing", InputKind::Dossier)],
    )
    .expect_err("a required mapping that is not there");
    assert!(missing.to_string().contains("nothing"), "{missing}");
    let wrong = MappingSet::for_kind(
        "dvcqg",
        None,
        spec_files("dvcqg"),
        &[("hoso", InputKind::Progress)],
    )
    .expect_err("a required mapping of another input");
    assert!(wrong.to_string().contains("input"), "{wrong}");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in spec_files("dvcqg") {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let edited = MappingSet::for_kind(
        "dvcqg",
        Some(dir.path()),
        &[],
        &[("hoso", InputKind::Dossier)],
    )
    .expect("the directory's copies");
    assert_eq!(edited.origin(), dir.path().display().to_string());
}

fn business() -> Value {
    serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))
    .expect("json")
}

#[test]
fn business_dossier_renders_to_the_expected_hoso() {
    let out = dvcqg().render("hoso", &business()).expect("renders");
    let expected: Value = serde_json::from_str(include_str!(
        "../../tests/expected/dvcqg-hoso-business.json"
    ))
    .expect("json");
    assert_eq!(
        out,
        expected,
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_default()
    );
}

#[test]
fn progress_entry_renders_with_truncated_actor() {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../examples/event-processing.json"))
            .expect("json");
    event["actor"]["name"] = json!("Nguyễn Văn Hùng ".repeat(6));
    let input = json!({ "dossier_code": "000.02.01.H37-261128-0001", "event": event });
    let out = dvcqg().render("tien-do", &input).expect("renders");
    assert_eq!(out["MaHoSo"], "000.02.01.H37-261128-0001");
    assert_eq!(out["TrangThai"], "4");
    assert_eq!(out["ThoiDiemXuLy"], "20261128143000");
    assert_eq!(
        out["NguoiXuLy"].as_str().map(|s| s.chars().count()),
        Some(50)
    );
    assert_eq!(out["PhongBanXuLy"], "Phòng Đăng ký kinh doanh");
    assert!(out.get("NgayKetThucTheoQuyDinh").is_none());
}

#[test]
fn summary_is_truncated_to_1000_characters() {
    let mut d = business();
    d["summary"] = json!("Đ".repeat(1500));
    let out = dvcqg().render("hoso", &d).expect("renders");
    assert_eq!(
        out["TrichYeuHoSo"].as_str().map(|s| s.chars().count()),
        Some(1000)
    );
}

#[test]
fn counter_dossier_has_no_portal_account() {
    let mut d = business();
    d["channel"] = json!("counter");
    let out = dvcqg().render("hoso", &d).expect("renders");
    assert_eq!(out["KenhThucHien"], "1");
    assert!(out.get("MaDoiTuong").is_none());
}

#[test]
fn missing_required_input_names_the_field() {
    let mut d = business();
    d["documents"][1]
        .as_object_mut()
        .expect("obj")
        .remove("url");
    let err = dvcqg().render("hoso", &d).expect_err("url is required");
    assert_eq!(err.field(), "documents[1].url");
    assert_eq!(err.target, "TaiLieuNop[1].DuongDanTaiTepTin");
}

#[test]
fn value_outside_code_table_is_an_error() {
    let mut d = business();
    d["channel"] = json!("carrier-pigeon");
    let err = dvcqg().render("hoso", &d).expect_err("not in table");
    assert_eq!(err.field(), "channel");
    assert!(err.message.contains("code table `channel`"), "{err}");
}

#[test]
fn unknown_source_path_is_reported_with_file_and_line() {
    let text = "input = \"dossier\"\n\n[[fields]]\ntarget = \"A\"\nsource = \"applicant.identity.numbr\"\n";
    let err = MappingSet::from_sources("x", &[("a.toml", text)]).expect_err("unknown path");
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].file, "x/a.toml");
    assert_eq!(err.0[0].line, 5);
    assert!(
        err.0[0].message.contains("applicant.identity.numbr"),
        "{}",
        err.0[0]
    );
}

#[test]
fn every_problem_is_reported() {
    let codes = "[tables.status]\naccepted = \"2\"\n";
    let text = r#"input = "dossier"
[[fields]]
target = "A"
source = "status"
code_table = "statuses"
[[fields]]
target = "B"
source = "received_at"
format = "yyyyMMddhhmmss"
[[fields]]
target = "C"
source = "documents"
[[fields]]
target = "D"
source = "code"
transform = "upper"
[[fields]]
target = "A"
value = 1
"#;
    let err =
        MappingSet::from_sources("x", &[("codes.toml", codes), ("a.toml", text)]).expect_err("bad");
    let lines: Vec<usize> = err.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, [5, 9, 12, 16, 18], "{err}");
    assert!(err.to_string().contains("unknown code table `statuses`"));
    assert!(err.to_string().contains("`hh`"));
    assert!(err.to_string().contains("duplicate target `A`"));
}

#[test]
fn syntax_errors_and_unknown_keys_have_lines() {
    let err = MappingSet::from_sources(
        "x",
        &[(
            "a.toml",
            "input = \"dossier\"\n[[fields]]\ntarget = \"A\"\nsorce = \"code\"\n",
        )],
    )
    .expect_err("unknown key");
    assert_eq!(err.0[0].line, 4, "{err}");
    let err = MappingSet::from_sources("x", &[("a.toml", "input = \"dossier\"\n[[fields]\n")])
        .expect_err("syntax");
    assert_eq!(err.0[0].line, 2, "{err}");
}

#[test]
fn list_items_can_read_the_root() {
    let text = r#"input = "dossier"
[[fields]]
target = "Docs"
source = "documents"
  [[fields.fields]]
  target = "Ma"
  source = "$.code"
  [[fields.fields]]
  target = "Id"
  source = "id"
"#;
    let set = MappingSet::from_sources("x", &[("a.toml", text)]).expect("compiles");
    let out = set.render("a", &business()).expect("renders");
    assert_eq!(out["Docs"][1]["Ma"], "000.02.01.H37-261128-0001");
    assert_eq!(out["Docs"][1]["Id"], "tl-0001-2");
}

#[test]
fn builtin_dir_matches_embedded_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/dvcqg");
    let set = MappingSet::from_dir(&dir).expect("dir compiles");
    assert!(set.require("hoso", InputKind::Dossier).is_ok());
    assert!(set.require("tien-do", InputKind::Progress).is_ok());
    assert!(set.require("tien-do", InputKind::Dossier).is_err());
}

mod edxml {
    use serde_json::json;

    use super::super::MappingSet;
    use super::spec_files;

    fn exchange(with_status: bool) -> serde_json::Value {
        let dossier: serde_json::Value = serde_json::from_str(include_str!(
            "../../../examples/dossier-business-registration.json"
        ))
        .expect("example");
        let mut v = json!({
            "from": { "code": "000.02.01.H37", "name": "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình" },
            "to": [{ "code": "000.00.12.H37", "name": "UBND xã Gia Viễn" }],
            "document_id": "000.02.01.H37,2026/11/28,1234/LT",
            "code_number": "1234",
            "code_notation": "LT",
            "sent_at": "2026-11-28T03:00:00Z",
            "business_doc_type": 0,
            "trace": [{ "organ_id": "000.02.01.H37", "at": "2026-11-28T03:00:00Z" }],
            "dossier": dossier,
        });
        if with_status {
            v["status"] = json!({
                "dossier_code": "000.02.01.H37-261128-0001",
                "event": serde_json::from_str::<serde_json::Value>(include_str!("../../../examples/event-processing.json")).expect("event"),
            });
            v.as_object_mut().map(|o| o.remove("dossier"));
        }
        v
    }

    #[test]
    fn dossier_message_renders_as_edxml_in_field_order() {
        let set =
            MappingSet::from_sources("edxml", spec_files("edxml")).expect("edXML mappings compile");
        let xml = set.render_xml("dossier", &exchange(false)).expect("render");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML:edXML xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"><edXML:edXMLEnvelope>"), "{xml}");
        let order = [
            "<edXML:edXMLHeader>",
            "<edXML:MessageHeader>",
            "<edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId>",
            "<edXML:To><edXML:OrganId>000.00.12.H37</edXML:OrganId>",
            "<edXML:DocumentId>000.02.01.H37,2026/11/28,1234/LT</edXML:DocumentId>",
            "<edXML:Code><edXML:CodeNumber>1234</edXML:CodeNumber><edXML:CodeNotation>LT</edXML:CodeNotation></edXML:Code>",
            "<edXML:PromulgationDate>2026/11/28</edXML:PromulgationDate>",
            "<edXML:Subject>",
            "<edXML:ApplicationType>MCDT_DT</edXML:ApplicationType>",
            "<edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:Timestamp>2026/11/28 10:00:00</edXML:Timestamp></edXML:TraceHeader><edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType></edXML:Bussiness></edXML:TraceHeaderList>",
            "<edXML:edXMLBody><edXML:edXMLManifest version=\"1.0\"><edXML:Reference>",
        ];
        let mut at = 0;
        for want in order {
            let found = xml[at..]
                .find(want)
                .unwrap_or_else(|| panic!("{want} missing or out of order in\n{xml}"));
            at += found + want.len();
        }
    }

    #[test]
    fn status_message_maps_the_event() {
        let set = MappingSet::from_sources("edxml", spec_files("edxml")).expect("compile");
        let xml = set.render_xml("status", &exchange(true)).expect("render");
        assert!(
            xml.contains(
                "<edXML:MessageStatus><edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<edXML:StatusCode>05</edXML:StatusCode>"),
            "processing is 05: {xml}"
        );
        assert!(
            xml.contains("<edXML:ResponseFor><edXML:Code>000.02.01.H37-261128-0001</edXML:Code>"),
            "{xml}"
        );
        assert!(
            xml.contains("<edXML:DocumentId>000.02.01.H37,2026/11/28,1234/LT</edXML:DocumentId>"),
            "without response_for the status names its own document: {xml}"
        );
        // An exchange action wins over the status; ResponseFor names the answered document.
        let mut answered = exchange(true);
        answered["status"]["event"]["exchange"] = serde_json::json!("change_accepted");
        answered["status"]["response_for"] = serde_json::json!("000.00.12.H37,2026/11/27,77/LT");
        let xml = set.render_xml("status", &answered).expect("render");
        assert!(
            xml.contains("<edXML:StatusCode>15</edXML:StatusCode>"),
            "{xml}"
        );
        assert!(
            xml.contains("<edXML:DocumentId>000.00.12.H37,2026/11/27,77/LT</edXML:DocumentId>"),
            "{xml}"
        );
        answered["status"]["event"]["exchange"] = serde_json::json!("take_back");
        let xml = set.render_xml("status", &answered).expect("render");
        assert!(
            xml.contains("<edXML:StatusCode>13</edXML:StatusCode>"),
            "{xml}"
        );
        // A dossier mapping without a dossier, or a status without a status, is a render error
        // naming the field.
        let err = set
            .render_xml("status", &exchange(false))
            .expect_err("no status");
        assert!(err.to_string().contains("MessageStatus"), "{err}");
    }

    #[test]
    fn xml_output_problems_are_reported_with_the_file() {
        let bad = r#"
description = "x"
input = "exchange"
[xml]
root = "p:Root"
namespaces = { q = "urn:q" }
[[fields]]
target = "not a name"
source = "$.document_id"
"#;
        let err = MappingSet::from_sources("t", &[("bad.toml", bad)]).expect_err("bad");
        let text = err.to_string();
        assert!(text.contains("prefix `p`"), "{text}");
        assert!(text.contains("`not a name` is not an XML name"), "{text}");
    }
}

fn emc() -> MappingSet {
    MappingSet::from_sources("emc", spec_files("emc")).expect("built-in EMC mappings compile")
}

/// A report input: `event` on `dossier` with the dossier's context, as the gateway queues it.
fn report(dossier: Value, event: Value) -> Value {
    let d = Dossier::from_json(dossier).expect("valid dossier");
    json!({
        "dossier_code": d.code,
        "event": event,
        "dossier": crate::model::DossierContext::of(&d),
    })
}

fn processing_event() -> Value {
    serde_json::from_str(include_str!("../../../examples/event-processing.json")).expect("json")
}

#[test]
fn emc_report_of_a_business_dossier_is_the_expected_one() {
    let out = emc()
        .render("bao-cao", &report(business(), processing_event()))
        .expect("renders");
    let expected: Value = serde_json::from_str(include_str!(
        "../../tests/expected/emc-bao-cao-business.json"
    ))
    .expect("json");
    assert_eq!(
        out,
        expected,
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_default()
    );
}

#[test]
fn emc_report_codes_follow_channel_fees_level_and_status() {
    let investment: Value =
        serde_json::from_str(include_str!("../../../examples/dossier-investment.json"))
            .expect("json");
    let mut event = processing_event();
    event["status"] = json!("returned");
    let out = emc()
        .render("bao-cao", &report(investment.clone(), event.clone()))
        .expect("renders");
    assert_eq!(out["Status"], 3, "returned → result returned");
    assert_eq!(out["FormsReception"], 2, "counter");
    assert_eq!(out["FormsPayments"], 0, "no fee");
    assert_eq!(out["Level"], 1, "in person, full");
    assert_eq!(out["IsDVCBC"], 0);

    // By post, fees at the counter, a level and the national portal given in `extra`.
    let mut posted = investment;
    posted["channel"] = json!("post");
    posted["fees"] =
        json!([{ "code": "LP", "name": "Lệ phí", "amount": 1000, "method": "counter" }]);
    posted["extra"] = json!({ "muc_do_dvc": "3", "tu_dvcqg": true, "so_bien_nhan": "BN-0042" });
    for (status, code) in [
        ("rejected", 0),
        ("accepted", 1),
        ("processed", 2),
        ("withdrawn", 0),
    ] {
        event["status"] = json!(status);
        let out = emc()
            .render("bao-cao", &report(posted.clone(), event.clone()))
            .expect("renders");
        assert_eq!(out["Status"], code, "{status}");
        assert_eq!(out["FormsReception"], 2);
        assert_eq!(out["FormsPayments"], 2);
        assert_eq!(out["Level"], 3);
        assert_eq!(out["IsFromDVCQG"], 1);
        assert_eq!(out["IsDVCBC"], 1);
        assert_eq!(out["MaHoSo"], "BN-0042");
    }
}

#[test]
fn emc_report_without_the_dossier_context_names_the_field() {
    let input = json!({ "dossier_code": "000.02.01.H37-261128-0001", "event": processing_event() });
    let e = emc()
        .render("bao-cao", &input)
        .expect_err("needs the context");
    assert!(e.to_string().contains("CodeTTHC"), "{e}");
}

fn nbrs() -> MappingSet {
    MappingSet::from_sources("nbrs", spec_files("nbrs")).expect("built-in NBRS mappings compile")
}

#[test]
fn nbrs_registration_of_the_business_example_is_the_expected_one() {
    let out = nbrs().render("dang-ky", &business()).expect("renders");
    let expected: Value = serde_json::from_str(include_str!(
        "../../tests/expected/nbrs-dang-ky-business.json"
    ))
    .expect("json");
    assert_eq!(
        out,
        expected,
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_default()
    );
}

#[test]
fn nbrs_registration_needs_the_business_block_and_names_what_is_missing() {
    let mut d = business();
    d["business"]["head_office"]
        .as_object_mut()
        .expect("object")
        .remove("ward_code");
    let e = nbrs()
        .render("dang-ky", &d)
        .expect_err("ward code required");
    assert!(e.to_string().contains("TRU_SO.MA_XA"), "{e}");
    d.as_object_mut().expect("object").remove("business");
    let e = nbrs().render("dang-ky", &d).expect_err("business required");
    assert!(e.to_string().contains("TEN_DN"), "{e}");
    // An amendment names the enterprise.
    let mut a = business();
    a["business"]["enterprise_code"] = json!("0700123456");
    assert_eq!(
        nbrs().render("dang-ky", &a).expect("renders")["MSDN"],
        "0700123456"
    );
}

#[test]
fn nbrs_process_statuses_read_back_to_canonical_statuses() {
    let set = nbrs();
    let table = set.tables().get("process_status").expect("table");
    for (code, status) in [("1", "accepted"), ("4", "processed"), ("6", "returned")] {
        assert_eq!(table.lookup(code), Some(&json!(status)));
        assert!(crate::model::DossierStatus::parse(status).is_some());
    }
    assert_eq!(table.lookup("42"), None);
}

#[test]
fn investment_registration_renders_as_provisional_xml() {
    let set = MappingSet::from_sources("investment", spec_files("investment"))
        .expect("built-in investment mappings compile");
    // As the connector renders it: the dossier as the model serializes it.
    let mut d = serde_json::to_value(
        Dossier::from_json(
            serde_json::from_str(include_str!("../../../examples/dossier-investment.json"))
                .expect("json"),
        )
        .expect("valid dossier"),
    )
    .expect("value");
    let xml = set.render_xml("dang-ky-dau-tu", &d).expect("renders");
    assert_eq!(
        xml,
        include_str!("../../tests/expected/investment-dang-ky-dau-tu.xml"),
        "{xml}"
    );
    // Each objective is its own element; a missing capital names the field.
    d["investment"]["objectives"] = json!(["Sản xuất linh kiện", "Xuất khẩu"]);
    let xml = set.render_xml("dang-ky-dau-tu", &d).expect("renders");
    assert!(
        xml.contains("<MucTieu>Sản xuất linh kiện</MucTieu><MucTieu>Xuất khẩu</MucTieu>"),
        "{xml}"
    );
    d["investment"]
        .as_object_mut()
        .expect("object")
        .remove("total_capital");
    let e = set
        .render_xml("dang-ky-dau-tu", &d)
        .expect_err("capital required");
    assert!(e.to_string().contains("TongVonDauTu"), "{e}");
}

#[test]
fn a_list_of_scalars_with_a_code_table_still_needs_fields() {
    let bad = "input = \"dossier\"\n[[fields]]\ntarget = \"X\"\nsource = \"investment.objectives\"\ncode_table = \"t\"\n";
    let e = MappingSet::from_sources(
        "t",
        &[("codes.toml", "[tables.t]\na = \"1\"\n"), ("x.toml", bad)],
    )
    .expect_err("refused");
    assert!(e.to_string().contains("is a list"), "{e}");
}
