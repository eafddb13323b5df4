//! The XML parser and canonicalization: any input either is refused with an error or parses;
//! a parsed document canonicalizes under every method, the canonical form parses again, and
//! canonicalizing that gives the same bytes (C14N is idempotent). Every element's subtree
//! canonicalizes too (what a `#id` reference digests).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong_certs::xml::{Apex, Document, Limits, Method, XmlError, canonicalize};

fn methods() -> [Method; 4] {
    [
        Method::Exclusive {
            with_comments: false,
            inclusive_prefixes: vec![],
        },
        Method::Exclusive {
            with_comments: true,
            inclusive_prefixes: vec!["#default".into(), "p".into()],
        },
        Method::Inclusive {
            with_comments: false,
        },
        Method::Inclusive {
            with_comments: true,
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = Document::parse(text, Limits::default()) else {
        return;
    };
    for method in methods() {
        let once = canonicalize(&doc, Apex::Document, &method, None);
        let again = std::str::from_utf8(&once).expect("canonical XML is UTF-8");
        match Document::parse(again, Limits::default()) {
            Ok(canonical) => {
                let twice = canonicalize(&canonical, Apex::Document, &method, None);
                assert!(
                    once == twice,
                    "C14N is not idempotent under {method:?}:\n{again}\n---\n{}",
                    String::from_utf8_lossy(&twice)
                );
            }
            // Canonical XML may declare namespaces on more elements than the input did, and
            // so pass a namespace limit the input kept to: that is a limit, not a bug.
            Err(XmlError::Limit(_)) => {}
            Err(e) => panic!("canonical XML does not parse ({e}):\n{again}"),
        }
        for (id, _) in doc.elements().take(64) {
            let _ = canonicalize(&doc, Apex::Element(id), &method, Some(id));
            let _ = canonicalize(&doc, Apex::Element(doc.root()), &method, Some(id));
        }
    }
});
