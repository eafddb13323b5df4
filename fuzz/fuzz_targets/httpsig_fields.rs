//! RFC 9421 and RFC 9530 parsing: the input is `Signature-Input`, `Signature` and
//! `Content-Digest` field values and the body, one per line. Verifying such a request (with an
//! HMAC key for any key id) and checking the digest end in a result or an error, never a panic.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use lienthong_certs::httpsig::{HmacSecret, VerifyPolicy, VerifyingKey, verify_request};

fuzz_target!(|data: &[u8]| {
    let f = lienthong_fuzz::fields(data, 4);
    let [input, signature, digest, body] = f.as_slice() else {
        return;
    };
    let _ = lienthong_certs::verify_content_digest(&String::from_utf8_lossy(digest), body);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("signature-input", input),
        ("signature", signature),
        ("content-digest", digest),
    ] {
        match HeaderValue::from_bytes(value) {
            Ok(v) => {
                headers.insert(name, v);
            }
            Err(_) => return,
        }
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let policy = VerifyPolicy {
        label: None,
        max_age: std::time::Duration::from_secs(300),
        max_skew: std::time::Duration::from_secs(60),
        required_components: &["@method", "@target-uri", "content-digest"],
        require_nonce: false,
        nonces: None,
        now: 1_618_884_480,
    };
    let _ = verify_request(
        "POST",
        "https://lienthong.example.gov.vn/v1/dossiers?x=1",
        &headers,
        body,
        &policy,
        |_, _| Some(VerifyingKey::Hmac(HmacSecret::new(b"fuzz-secret".to_vec()))),
    );
});
