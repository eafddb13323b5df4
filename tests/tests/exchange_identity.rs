//! Security III, item 4: who may speak for a center on `/v1/exchange` (issue 25). Any
//! certificate under `client_trust` could deliver a document signed by any trusted peer: right
//! for a relay, wrong for a direct peer. Now `transport_identity` decides per peer
//! (`same-as-signer` by default for a direct peer); a future trace time names the clock-skew
//! limit it broke; a caller without a client certificate over HTTP/2 reads its 401.

use std::time::Duration;

use lienthong_tests::gateway_process::Gateway;
use lienthong_tests::two_level::{Level, province_and_commune};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use serde_json::Value;
use time::OffsetDateTime;

mod common;
use common::{signed_province_message as document, xml_signer as signer};

/// An HTTPS client of the commune presenting `leaf` as its client certificate.
fn client_with(commune: &Level, leaf: &lienthong_certs::testpki::Leaf) -> reqwest::Client {
    let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
    reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(commune.pki.ca_pem.as_bytes()).expect("CA"),
        ])
        .identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"))
        .build()
        .expect("client")
}

async fn deliver(client: &reqwest::Client, url: &str, xml: String) -> (u16, Value) {
    let r = client
        .post(url)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .expect("answered");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn stored(gw: &Gateway, code: &str) -> usize {
    let (status, v) = gw.get(&format!("/v1/exchange/received/{code}")).await;
    assert_eq!(status, 200, "{v}");
    v["received"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_direct_peers_documents_come_over_its_own_certificate() {
    let (province, commune) = province_and_commune().await;
    let gw = commune
        .start(&commune.config(&province, &province.exchange_url(), ""))
        .await;
    let url = commune.exchange_url();
    let now = OffsetDateTime::now_utc();
    let genuine = signer(&province.signing);
    // Another center under the same CA (trusted by the commune's client_trust all the same).
    let neighbour = province.pki.leaf(
        "Trung tam khac 000.99.99.H37",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let code = "000.02.01.H37-261207-0401";
    let (status, body) = deliver(
        &client_with(&commune, &neighbour),
        &url,
        document(code, "1", now, &genuine),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["type"], "urn:lienthong:problem:transport-identity",
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("transport_identity") && d.contains("000.99.99.H37")),
        "{body}"
    );
    assert_eq!(stored(&gw, code).await, 0, "nothing refused is stored");
    // The province itself, with its own certificate: taken.
    let (status, body) = deliver(
        &commune.peer_client(&province),
        &url,
        document(code, "1", now, &genuine),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored(&gw, code).await, 1);
}

#[tokio::test]
async fn a_relay_may_carry_other_centers_documents_when_configured() {
    let (province, commune) = province_and_commune().await;
    let config = commune
        .config(&province, &province.exchange_url(), "")
        .replacen(
            "signature_trust = \"peer\"\n",
            "signature_trust = \"peer\"\ntransport_identity = \"any-trusted\"\n",
            1,
        );
    let gw = commune.start(&config).await;
    let relay = province.pki.leaf(
        "Truc lien thong tinh 000.00.00.H37",
        &rcgen::PKCS_RSA_SHA256,
        &[Eku::ClientAuth],
    );
    let code = "000.02.01.H37-261207-0402";
    let (status, body) = deliver(
        &client_with(&commune, &relay),
        &commune.exchange_url(),
        document(
            code,
            "1",
            OffsetDateTime::now_utc(),
            &signer(&province.signing),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored(&gw, code).await, 1);
    // The signature still decides whose document it is: a relay cannot sign for the province.
    let (status, body) = deliver(
        &client_with(&commune, &relay),
        &commune.exchange_url(),
        document(
            "000.02.01.H37-261207-0403",
            "2",
            OffsetDateTime::now_utc(),
            &signer(&relay),
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_document_from_the_future_names_the_clock_skew() {
    let (province, commune) = province_and_commune().await;
    let _gw = commune
        .start(&commune.config(&province, &province.exchange_url(), ""))
        .await;
    let ahead = OffsetDateTime::now_utc() + time::Duration::minutes(20);
    let (status, body) = deliver(
        &commune.peer_client(&province),
        &commune.exchange_url(),
        document(
            "000.02.01.H37-261207-0404",
            "1",
            ahead,
            &signer(&province.signing),
        ),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("clock skew") && detail.contains("exchange.max_skew"),
        "{detail}"
    );
    assert!(!detail.contains("must be sent within"), "{detail}");
}

/// Over HTTP/2, a caller without a client certificate reads its 401: a bounded part of the body
/// is read first, so the answer is not lost to a reset stream (curl, whose HTTP/2 layer is
/// nghttp2 as in many clients, said "Stream error in the HTTP/2 framing layer" for a 900 KB
/// document before).
#[tokio::test]
async fn a_caller_without_a_certificate_reads_its_401_over_http2() {
    let (province, commune) = province_and_commune().await;
    let _gw = commune
        .start(&commune.config(&province, &province.exchange_url(), ""))
        .await;
    // A document of some size (files ride inside it): many DATA frames.
    let xml = document(
        "000.02.01.H37-261207-0405",
        "1",
        OffsetDateTime::now_utc(),
        &signer(&province.signing),
    ) + &format!("<!--{}-->", "x".repeat(1536 * 1024));
    let dir = tempfile::tempdir().expect("dir");
    let body = dir.path().join("doc.xml");
    std::fs::write(&body, &xml).expect("write");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &commune.pki.ca_pem).expect("ca");
    for _ in 0..3 {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--http2", "-o", "/dev/null", "--cacert"])
            .arg(&ca)
            .args(["-w", "%{http_code} %{http_version}"])
            .args(["-H", "content-type: application/xml", "--data-binary"])
            .arg(format!("@{}", body.display()))
            .arg(commune.exchange_url())
            .output()
            .expect("curl (apt-get install curl)");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "401 2",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let http2 = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(commune.pki.ca_pem.as_bytes()).expect("CA"),
        ])
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let r = http2
        .post(commune.exchange_url())
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .expect("the 401 arrives");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 401);
    let p: Value = r.json().await.expect("problem");
    assert_eq!(
        p["type"],
        "urn:lienthong:problem:client-certificate-required"
    );
}
