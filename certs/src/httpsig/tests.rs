//! RFC 9421 Appendix B vectors (keys in `tests/fixtures/rfc9421`), round trips for each
//! algorithm, and the verifier's policy (age, digest, nonce replay, coverage).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use super::*;
use crate::keys::PrivateKey;

const CREATED: i64 = 1_618_884_473;
const REQUEST_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
const RESPONSE_DIGEST: &str = "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:";
const TARGET: &str = "https://example.com/foo?param=Value&Pet=dog";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rfc9421")
            .join(name),
    )
    .unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

/// The RFC's `test-request` (B.2).
fn test_request_headers() -> HeaderMap {
    headers(&[
        ("host", "example.com"),
        ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("content-type", "application/json"),
        ("content-digest", REQUEST_DIGEST),
        ("content-length", "18"),
    ])
}

/// The RFC's `test-response` (B.2).
fn test_response_headers() -> HeaderMap {
    headers(&[
        ("date", "Tue, 20 Apr 2021 02:07:56 GMT"),
        ("content-type", "application/json"),
        ("content-digest", RESPONSE_DIGEST),
        ("content-length", "23"),
    ])
}

fn components(names: &[&str]) -> Vec<ComponentId> {
    names.iter().map(|n| ComponentId::new(n)).collect()
}

fn rfc_policy<'a>() -> VerifyPolicy<'a> {
    VerifyPolicy {
        label: None,
        max_age: Duration::from_secs(300),
        max_skew: Duration::from_secs(60),
        required_components: &[],
        require_nonce: false,
        nonces: None,
        now: CREATED + 10,
    }
}

fn ed25519_key() -> SigningKey {
    let key = PrivateKey::from_bytes(fixture("test-key-ed25519.pem").as_bytes(), "ed").unwrap();
    SigningKey::Private {
        key: Arc::new(key),
        algorithm: Algorithm::Ed25519,
    }
}

fn shared_secret() -> HmacSecret {
    HmacSecret::from_base64(&fixture("test-shared-secret.b64")).unwrap()
}

#[test]
fn section_2_5_signature_base() {
    let h = test_request_headers();
    let msg = Message::request("POST", TARGET, &h);
    let params = SignatureParams {
        components: components(&[
            "@method",
            "@authority",
            "@path",
            "content-digest",
            "content-length",
            "content-type",
        ]),
        created: Some(CREATED),
        keyid: Some("test-key-rsa-pss".into()),
        ..Default::default()
    };
    let base =
        base::signature_base(&msg, &params.components, &params.serialize(None).unwrap()).unwrap();
    let expected = format!(
        "\"@method\": POST\n\"@authority\": example.com\n\"@path\": /foo\n\"content-digest\": {REQUEST_DIGEST}\n\"content-length\": 18\n\"content-type\": application/json\n\"@signature-params\": (\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-length\" \"content-type\");created=1618884473;keyid=\"test-key-rsa-pss\""
    );
    assert_eq!(base, expected);
}

#[test]
fn b_2_6_ed25519_byte_for_byte() {
    let h = test_request_headers();
    let msg = Message::request("POST", TARGET, &h);
    let params = SignatureParams {
        components: components(&[
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ]),
        created: Some(CREATED),
        keyid: Some("test-key-ed25519".into()),
        ..Default::default()
    };
    let fields = sign(&msg, "sig-b26", &params, &ed25519_key()).unwrap();
    assert_eq!(
        fields.signature_input,
        r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#
    );
    assert_eq!(
        fields.signature,
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
    );
    // And it verifies with the RFC's public key.
    let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
    let vk = VerifyingKey::from_public_key_pem(public, Algorithm::Ed25519).unwrap();
    let v = verify(
        &msg,
        &fields.signature_input,
        &fields.signature,
        &rfc_policy(),
        |k, _| (k == Some("test-key-ed25519")).then(|| vk.clone()),
    )
    .unwrap();
    assert_eq!(v.label, "sig-b26");
}

#[test]
fn b_2_5_hmac_sha256_byte_for_byte() {
    let h = test_request_headers();
    let msg = Message::request("POST", TARGET, &h);
    let params = SignatureParams {
        components: components(&["date", "@authority", "content-type"]),
        created: Some(CREATED),
        keyid: Some("test-shared-secret".into()),
        ..Default::default()
    };
    let fields = sign(&msg, "sig-b25", &params, &SigningKey::Hmac(shared_secret())).unwrap();
    assert_eq!(
        fields.signature_input,
        r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#
    );
    assert_eq!(
        fields.signature,
        "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"
    );
    verify(
        &msg,
        &fields.signature_input,
        &fields.signature,
        &rfc_policy(),
        |_, _| Some(VerifyingKey::Hmac(shared_secret())),
    )
    .unwrap();
}

fn rsa_pss_key() -> VerifyingKey {
    VerifyingKey::from_public_key_pem(
        &fixture("test-key-rsa-pss.pub.pem"),
        Algorithm::RsaPssSha512,
    )
    .unwrap()
}

fn ecc_key() -> VerifyingKey {
    VerifyingKey::from_public_key_pem(
        &fixture("test-key-ecc-p256.pub.pem"),
        Algorithm::EcdsaP256Sha256,
    )
    .unwrap()
}

/// The RFC's randomized signatures (RSA-PSS, ECDSA) verify as published.
#[test]
fn b_2_1_to_b_2_4_published_signatures_verify() {
    let req = test_request_headers();
    let request = Message::request("POST", TARGET, &req);
    let vectors = [
        (
            r#"sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#,
            "sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:",
        ),
        (
            r#"sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#,
            "sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:",
        ),
        (
            r#"sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#,
            "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:",
        ),
    ];
    for (input, signature) in vectors {
        let v = verify(&request, input, signature, &rfc_policy(), |k, _| {
            (k == Some("test-key-rsa-pss")).then(rsa_pss_key)
        })
        .unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(v.algorithm, Algorithm::RsaPssSha512);
        // Changing a covered component breaks it.
        let mut changed = req.clone();
        changed.insert("content-digest", HeaderValue::from_static("sha-512=:AAAA:"));
        let changed_msg = Message::request(
            "POST",
            "https://example.com/foo?param=Value&Pet=cat",
            &changed,
        );
        if input != vectors[0].0 {
            assert_eq!(
                verify(&changed_msg, input, signature, &rfc_policy(), |_, _| Some(
                    rsa_pss_key()
                ))
                .unwrap_err(),
                HttpSigError::BadSignature
            );
        }
    }
    // B.2.4: a response signed with ECDSA P-256.
    let resp = test_response_headers();
    let response = Message::response(200, &resp);
    verify(
        &response,
        r#"sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256""#,
        "sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:",
        &rfc_policy(),
        |_, _| Some(ecc_key()),
    )
    .unwrap();
}

/// B.3: a TLS-terminating proxy signs the client certificate it saw.
#[test]
fn b_3_proxy_signature_verifies() {
    let cert = "MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTAeFw0yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmckC8vdgJ1p5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDVR0TBAIwADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf8EBAMCBsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6bMjeSkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=";
    let h = headers(&[
        ("host", "service.internal.example"),
        ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("content-type", "application/json"),
        ("content-length", "18"),
        ("client-cert", &format!(":{cert}:")),
    ]);
    let msg = Message::request(
        "POST",
        "https://service.internal.example/foo?param=Value&Pet=dog",
        &h,
    );
    verify(
        &msg,
        r#"ttrp=("@path" "@query" "@method" "@authority" "client-cert");created=1618884473;keyid="test-key-ecc-p256""#,
        "ttrp=:xVMHVpawaAC/0SbHrKRs9i8I3eOs5RtTMGCWXm/9nvZzoHsIg6Mce9315T6xoklyy0yzhD9ah4JHRwMLOgmizw==:",
        &rfc_policy(),
        |_, _| Some(ecc_key()),
    )
    .unwrap();
}

#[test]
fn sign_and_verify_round_trip_for_each_algorithm() {
    let rsa =
        Arc::new(PrivateKey::from_bytes(fixture("test-key-rsa.pem").as_bytes(), "rsa").unwrap());
    let ecc = Arc::new(
        PrivateKey::from_bytes(fixture("test-key-ecc-p256.pem").as_bytes(), "ecc").unwrap(),
    );
    let ed =
        Arc::new(PrivateKey::from_bytes(fixture("test-key-ed25519.pem").as_bytes(), "ed").unwrap());
    let keys: Vec<(SigningKey, VerifyingKey)> = vec![
        (
            SigningKey::Private {
                key: rsa.clone(),
                algorithm: Algorithm::RsaV15Sha256,
            },
            VerifyingKey::Public {
                key: rsa.public_key_bytes().to_vec(),
                algorithm: Algorithm::RsaV15Sha256,
            },
        ),
        (
            SigningKey::Private {
                key: rsa.clone(),
                algorithm: Algorithm::RsaPssSha512,
            },
            VerifyingKey::Public {
                key: rsa.public_key_bytes().to_vec(),
                algorithm: Algorithm::RsaPssSha512,
            },
        ),
        (
            SigningKey::Private {
                key: ecc.clone(),
                algorithm: Algorithm::EcdsaP256Sha256,
            },
            VerifyingKey::Public {
                key: ecc.public_key_bytes().to_vec(),
                algorithm: Algorithm::EcdsaP256Sha256,
            },
        ),
        (
            SigningKey::Private {
                key: ed.clone(),
                algorithm: Algorithm::Ed25519,
            },
            VerifyingKey::Public {
                key: ed.public_key_bytes().to_vec(),
                algorithm: Algorithm::Ed25519,
            },
        ),
        (
            SigningKey::Hmac(shared_secret()),
            VerifyingKey::Hmac(shared_secret()),
        ),
    ];
    let body = br#"{"ma_ho_so":"000.02.01.H37-251128-0001"}"#;
    let digest = crate::content_digest(body, crate::DigestAlgorithm::Sha256);
    let h = headers(&[
        ("content-type", "application/json"),
        ("content-digest", &digest),
    ]);
    let target = "https://mot-cua.example.vn:8443/v1/events";
    let msg = Message::request("POST", target, &h);
    for (sk, vk) in keys {
        let params = SignatureParams {
            components: components(&[
                "@method",
                "@target-uri",
                "@authority",
                "@path",
                "content-type",
                "content-digest",
            ]),
            created: Some(CREATED),
            expires: Some(CREATED + 300),
            keyid: Some("lienthong".into()),
            nonce: Some("n-1".into()),
            include_alg: true,
            tag: None,
        };
        let fields = sign(&msg, "lienthong", &params, &sk).unwrap();
        assert!(
            fields
                .signature_input
                .contains(&format!("alg=\"{}\"", sk.algorithm().name()))
        );
        let policy = VerifyPolicy {
            required_components: &["@method", "@target-uri", "content-digest"],
            ..rfc_policy()
        };
        let v = verify(
            &msg,
            &fields.signature_input,
            &fields.signature,
            &policy,
            |_, _| Some(vk.clone()),
        )
        .unwrap_or_else(|e| panic!("{:?}: {e}", sk.algorithm()));
        assert_eq!(v.algorithm, sk.algorithm());
        assert_eq!(v.keyid.as_deref(), Some("lienthong"));
        // A different method, target or digest fails.
        let other = Message::request("PUT", target, &h);
        assert_eq!(
            verify(
                &other,
                &fields.signature_input,
                &fields.signature,
                &policy,
                |_, _| Some(vk.clone())
            )
            .unwrap_err(),
            HttpSigError::BadSignature
        );
        let mut h2 = h.clone();
        h2.insert(
            "content-digest",
            HeaderValue::from_str(&crate::content_digest(
                b"{}",
                crate::DigestAlgorithm::Sha256,
            ))
            .unwrap(),
        );
        assert_eq!(
            verify(
                &Message::request("POST", target, &h2),
                &fields.signature_input,
                &fields.signature,
                &policy,
                |_, _| Some(vk.clone())
            )
            .unwrap_err(),
            HttpSigError::BadSignature
        );
    }
}

#[test]
fn policy_rejects_old_future_expired_uncovered_and_replayed() {
    let h = test_request_headers();
    let msg = Message::request("POST", TARGET, &h);
    let key = ed25519_key();
    let vk = || {
        let PrivateKeyHolder(pk) = PrivateKeyHolder::ed();
        VerifyingKey::Public {
            key: pk.public_key_bytes().to_vec(),
            algorithm: Algorithm::Ed25519,
        }
    };
    let params = SignatureParams {
        components: components(&["@method", "@path", "content-digest"]),
        created: Some(CREATED),
        expires: Some(CREATED + 120),
        keyid: Some("k".into()),
        nonce: Some("abc".into()),
        include_alg: true,
        tag: None,
    };
    let f = sign(&msg, "s", &params, &key).unwrap();
    let run = |policy: &VerifyPolicy<'_>| {
        verify(&msg, &f.signature_input, &f.signature, policy, |_, _| {
            Some(vk())
        })
    };

    let old = VerifyPolicy {
        now: CREATED + 301,
        ..rfc_policy()
    };
    assert!(matches!(run(&old), Err(HttpSigError::Expired(_))));
    let future = VerifyPolicy {
        now: CREATED - 61,
        ..rfc_policy()
    };
    assert!(matches!(run(&future), Err(HttpSigError::Expired(_))));
    let expired = VerifyPolicy {
        now: CREATED + 121,
        ..rfc_policy()
    };
    assert!(matches!(run(&expired), Err(HttpSigError::Expired(_))));
    let uncovered = VerifyPolicy {
        required_components: &["@target-uri"],
        ..rfc_policy()
    };
    assert_eq!(
        run(&uncovered).unwrap_err(),
        HttpSigError::NotCovered("@target-uri".into())
    );

    let cache = NonceCache::new(100);
    let with_nonces = VerifyPolicy {
        nonces: Some(&cache),
        require_nonce: true,
        ..rfc_policy()
    };
    run(&with_nonces).unwrap();
    assert_eq!(run(&with_nonces).unwrap_err(), HttpSigError::Replay);

    // The alg parameter must match the key.
    let wrong_alg = verify(
        &msg,
        &f.signature_input,
        &f.signature,
        &rfc_policy(),
        |_, _| Some(VerifyingKey::Hmac(shared_secret())),
    );
    assert!(matches!(wrong_alg, Err(HttpSigError::UnknownKey(_))));
    // Unknown key id.
    assert!(matches!(
        verify(
            &msg,
            &f.signature_input,
            &f.signature,
            &rfc_policy(),
            |_, _| None
        ),
        Err(HttpSigError::UnknownKey(_))
    ));
    // Garbage fields.
    assert!(matches!(
        verify(
            &msg,
            "s=(\"@method\"",
            &f.signature,
            &rfc_policy(),
            |_, _| Some(vk())
        ),
        Err(HttpSigError::Malformed(_))
    ));
}

struct PrivateKeyHolder(PrivateKey);

impl PrivateKeyHolder {
    fn ed() -> Self {
        Self(PrivateKey::from_bytes(fixture("test-key-ed25519.pem").as_bytes(), "ed").unwrap())
    }
}

/// `Content-Digest` in two field lines: the digest check would read one line while the
/// signature base joins both, so what is verified would not be what is signed. Refused, as are
/// repeated `Signature-Input` and `Signature` lines.
#[test]
fn repeated_digest_or_signature_field_lines_are_refused() {
    let body = br#"{"hello": "world"}"#;
    let other = br#"{"hello": "forged"}"#;
    let mut h = headers(&[
        ("host", "example.com"),
        ("content-type", "application/json"),
    ]);
    h.append(
        "content-digest",
        HeaderValue::from_str(&crate::content_digest(body, crate::DigestAlgorithm::Sha256))
            .unwrap(),
    );
    h.append(
        "content-digest",
        HeaderValue::from_str(&crate::content_digest(
            other,
            crate::DigestAlgorithm::Sha256,
        ))
        .unwrap(),
    );
    let params = SignatureParams {
        components: components(&["@method", "@target-uri", "content-digest"]),
        created: Some(CREATED),
        keyid: Some("k".into()),
        ..SignatureParams::default()
    };
    let key = ed25519_key();
    let f = sign(&Message::request("POST", TARGET, &h), "s", &params, &key).unwrap();
    let mut signed = h.clone();
    signed.insert(
        "signature-input",
        HeaderValue::from_str(&f.signature_input).unwrap(),
    );
    signed.insert("signature", HeaderValue::from_str(&f.signature).unwrap());
    let vk = || {
        let PrivateKeyHolder(pk) = PrivateKeyHolder::ed();
        VerifyingKey::Public {
            key: pk.public_key_bytes().to_vec(),
            algorithm: Algorithm::Ed25519,
        }
    };
    let run = |headers: &HeaderMap| {
        verify_request("POST", TARGET, headers, body, &rfc_policy(), |_, _| {
            Some(vk())
        })
    };
    let err = run(&signed).unwrap_err();
    assert!(
        matches!(err, HttpSigError::Digest(ref m) if m.contains("more than one")),
        "{err}"
    );

    // One line each verifies; a second Signature-Input or Signature line is refused.
    let mut single = h.clone();
    single.remove("content-digest");
    single.insert(
        "content-digest",
        HeaderValue::from_str(&crate::content_digest(body, crate::DigestAlgorithm::Sha256))
            .unwrap(),
    );
    let f = sign(
        &Message::request("POST", TARGET, &single),
        "s",
        &params,
        &key,
    )
    .unwrap();
    single.insert(
        "signature-input",
        HeaderValue::from_str(&f.signature_input).unwrap(),
    );
    single.insert("signature", HeaderValue::from_str(&f.signature).unwrap());
    run(&single).unwrap();
    for name in ["signature-input", "signature"] {
        let mut twice = single.clone();
        twice.append(name, HeaderValue::from_static("x=:AAAA:"));
        let err = run(&twice).unwrap_err();
        assert!(
            matches!(err, HttpSigError::Malformed(ref m) if m.contains("more than one")),
            "{name}: {err}"
        );
    }
}
