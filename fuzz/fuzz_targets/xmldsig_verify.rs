//! XML-DSig verification and the signed-XML readers built on it: whatever the input, verifying
//! it (whole document, or one element) and reading it as an investment decision ends in a
//! result or a typed error, never a panic; what is accepted chains to the fuzz trust store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_certs::xml::{Document, Limits};
use lienthong_certs::xmldsig::{Expected, VerifyPolicy, verify, verify_parsed};
use lienthong_connectors::investment::result::InvestmentResult;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let trust = lienthong_fuzz::trust();
    let whole = Expected::WholeDocument;
    if let Ok(v) = verify(text, &VerifyPolicy::new(&trust, &whole)) {
        assert_eq!(v.signer.trust_store, "fuzz");
        assert!(v.covers(v.document.root()));
        assert!(!v.covers(v.signature));
    }
    let element = Expected::Element {
        ns: "http://www.mic.gov.vn/TBT/QCVN_102_2016".into(),
        local: "edXMLHeader".into(),
    };
    if let Ok(doc) = Document::parse(text, Limits::default()) {
        let _ = verify_parsed(doc, &VerifyPolicy::new(&trust, &element));
    }
    let _ = InvestmentResult::read(text, &trust, &["Trung tam PVHCC tinh Ninh Binh".to_owned()]);
});
