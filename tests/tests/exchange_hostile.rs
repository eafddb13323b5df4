//! Hostile input to `POST /v1/exchange`: entity tricks, oversized and deep documents, attribute
//! floods, bad encodings, documents signed by the wrong party, replays and signature-wrapping
//! variants. Each is refused with the right status, nothing is stored or forwarded, and the
//! server keeps answering other requests meanwhile.

use std::time::{Duration, Instant};

use lienthong_certs::testpki::Pki;
use lienthong_connectors::peer::sign_edxml;
use lienthong_tests::gateway_process::Gateway;
use lienthong_tests::two_level::{Level, province_and_commune};

mod common;
use common::{
    COMMUNE, signed_province_message as document, unsigned_province_message as unsigned,
    xml_signer as signer,
};
use time::OffsetDateTime;

/// The text of the first element `<tag …>…</tag>` of `xml`, tags included.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = [format!("<{tag}>"), format!("<{tag} ")]
        .iter()
        .filter_map(|open| xml.find(open.as_str()))
        .min()
        .expect(tag);
    let close = format!("</{tag}>");
    let end = xml[start..].find(&close).expect(tag) + start + close.len();
    &xml[start..end]
}

async fn post(client: &reqwest::Client, url: &str, body: impl Into<reqwest::Body>) -> u16 {
    match client
        .post(url)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("request failed: {e}"),
    }
}

struct Target {
    commune: Level,
    province: Level,
    gw: Gateway,
}

async fn target() -> Target {
    let (province, commune) = province_and_commune().await;
    let gw = commune
        .start(&commune.config(&province, &province.exchange_url(), ""))
        .await;
    Target {
        commune,
        province,
        gw,
    }
}

#[tokio::test]
async fn hostile_documents_are_refused_and_nothing_is_stored() {
    let t = target().await;
    let url = t.commune.exchange_url();
    let as_province = t.commune.peer_client(&t.province);
    let good = signer(&t.province.signing);
    let now = OffsetDateTime::now_utc();
    let code = "000.02.01.H37-261129-0666";
    let valid = document(code, "1", now, &good);

    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><edXML>&xxe;</edXML>"#;
    let nested = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
    let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let flood = format!("<edXML{attrs}/>");
    let mut not_utf8 = valid.clone().into_bytes();
    let at = not_utf8.len() / 2;
    not_utf8[at] = 0xff;

    // Signed by a certificate of the province's CA that is not the province's signer.
    let stranger = t
        .province
        .pki
        .leaf("Nguoi la 000.99.99.H37", &rcgen::PKCS_RSA_SHA256, &[]);
    let wrong_signer = document(code, "2", now, &signer(&stranger));
    // Signed by the commune's own certificate (another peer's), claiming to be the province:
    // its CA is not the province's trust store, so the signature is not believed (401).
    let other_peer = document(code, "3", now, &signer(&t.commune.signing));
    // Signed by a CA nobody configured.
    let rogue = Pki::new("Rogue CA");
    let rogue_leaf = rogue.leaf(
        "Trung tam PVHCC tinh Ninh Binh 000.02.01.H37",
        &rcgen::PKCS_RSA_SHA256,
        &[],
    );
    let rogue_doc = document(code, "4", now, &signer(&rogue_leaf));
    // A genuine document from two hours ago (a replay of something captured).
    let old = document(code, "5", now - time::Duration::hours(2), &good);
    // Signature wrapping: the signed content kept, a forged header placed where readers look.
    let forged_code = valid.replacen(code, "000.02.01.H37-261129-0999", 1);
    let wrapped = valid.replacen(
        "<edXML:edXMLHeader>",
        "<edXML:edXMLHeader><edXML:MessageHeader><edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId></edXML:From><edXML:DocumentId>forged</edXML:DocumentId></edXML:MessageHeader>",
        1,
    );
    let sig_start = valid.find("<ds:Signature").expect("signature");
    let sig_end = valid.find("</ds:Signature>").expect("signature end") + "</ds:Signature>".len();
    let signature = &valid[sig_start..sig_end];
    let two_signatures = valid.replacen(signature, &format!("{signature}{signature}"), 1);
    let unsigned = valid.replacen(signature, "", 1);
    let moved_reference = valid.replacen("URI=\"\"", "URI=\"#elsewhere\"", 1);

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("billion laughs", laughs.into(), 400),
        ("external entity", xxe.into(), 400),
        ("10,000 nested elements", nested.into_bytes(), 400),
        ("100,000 attributes", flood.into_bytes(), 400),
        ("invalid UTF-8", not_utf8, 400),
        ("signer is not the sender", wrong_signer.into_bytes(), 403),
        ("another peer's certificate", other_peer.into_bytes(), 401),
        ("unknown CA", rogue_doc.into_bytes(), 401),
        ("replay of an old document", old.into_bytes(), 401),
        (
            "content changed after signing",
            forged_code.into_bytes(),
            401,
        ),
        // Two MessageHeaders: refused by the edXML reader's fixed paths before any signature
        // is checked.
        ("wrapped forged header", wrapped.into_bytes(), 400),
        ("two signatures", two_signatures.into_bytes(), 401),
        ("no signature", unsigned.into_bytes(), 401),
        (
            "reference to another element",
            moved_reference.into_bytes(),
            401,
        ),
    ];

    // The 100 MB body and the rest go in at once; meanwhile a normal request must be served.
    let huge = vec![b'<'; 100 * 1024 * 1024];
    let mut attacks = tokio::task::JoinSet::new();
    {
        let (c, u) = (as_province.clone(), url.clone());
        attacks.spawn(async move { ("100 MB body", post(&c, &u, huge).await, 413) });
    }
    for (name, body, want) in cases {
        let (c, u) = (as_province.clone(), url.clone());
        attacks.spawn(async move { (name, post(&c, &u, body).await, want) });
    }
    let probe = Instant::now();
    let (st, _) = t.gw.get("/healthz").await;
    let answered_in = probe.elapsed();
    assert_eq!(st, 200);
    assert!(
        answered_in < Duration::from_secs(1),
        "a normal request waited {answered_in:?} behind hostile ones"
    );
    while let Some(r) = attacks.join_next().await {
        let (name, got, want) = r.expect("attack task");
        assert_eq!(got, want, "{name}");
    }

    // Without a client certificate, even a valid document is refused.
    let status = post(&t.commune.client(), &url, valid.clone()).await;
    assert_eq!(status, 401, "no client certificate");

    // Nothing was stored or forwarded.
    for c in [code, "000.02.01.H37-261129-0999"] {
        let (st, _) = t.gw.get(&format!("/v1/dossiers/{c}")).await;
        assert_eq!(st, 404, "{c} must not exist");
        let (_, r) = t.gw.get(&format!("/v1/exchange/received/{c}")).await;
        assert_eq!(r["received"].as_array().map(Vec::len), Some(0), "{r}");
    }
    assert_eq!(t.commune.center.posts(), 0);

    // The genuine document is still accepted afterwards, and a resend gets the same answer.
    let first = as_province
        .post(&url)
        .header("content-type", "application/xml")
        .body(valid.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(first.status(), 200);
    let first = first.text().await.expect("answer");
    assert!(
        first.contains("<edXML:StatusCode>01</edXML:StatusCode>"),
        "{first}"
    );
    let again = as_province
        .post(&url)
        .header("content-type", "application/xml")
        .body(valid)
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.text().await.expect("answer"),
        first,
        "the original answer"
    );
    let (_, r) = t.gw.get(&format!("/v1/exchange/received/{code}")).await;
    assert_eq!(
        r["received"].as_array().map(Vec::len),
        Some(1),
        "stored once: {r}"
    );
}

/// Signature wrapping (XML-DSig's classic attack): a genuine document from the province keeps
/// its valid signature, while the parts a reader looks for are forged where the signature does
/// not reach (inside the `Signature` itself, which the enveloped transform leaves out) or moved
/// around it. Every variant is refused with 400 or 401 and neither the genuine nor the forged
/// dossier is stored or forwarded; the genuine document is still accepted afterwards and what is
/// stored is the genuine dossier.
#[tokio::test]
async fn signature_wrapping_variants_are_refused() {
    let t = target().await;
    let url = t.commune.exchange_url();
    let as_province = t.commune.peer_client(&t.province);
    let good = signer(&t.province.signing);
    let now = OffsetDateTime::now_utc();
    let code = "000.02.01.H37-261129-0700";
    let forged_code = "000.02.01.H37-261129-0999";
    let valid = document(code, "70", now, &good);

    // The forged parts: a complete header (another dossier code and DocumentId) and the
    // files (a forged hoso.json), as the province's renderer would make them.
    let forgery = unsigned(forged_code, "99", now, COMMUNE);
    let forged_envelope = element(&forgery, "edXML:edXMLEnvelope");
    let forged_header = element(&forgery, "edXML:edXMLHeader");
    let forged_files = element(&forgery, "edXML:AttachmentEncoded");
    let forged_attachment = element(forged_files, "edXML:Attachment");
    let forged = format!("{forged_envelope}{forged_files}");
    assert!(forged.contains(forged_code) && forged.contains("hoso.json"));

    let signature = element(&valid, "ds:Signature");
    let without_signature = valid.replacen(signature, "", 1);
    let root = valid.find("<edXML:edXML ").expect("root");
    let root_open_end = valid[root..].find('>').expect("root start tag") + root + 1;
    let signature_with = |inside: &str| {
        signature.replacen("</ds:Signature>", &format!("{inside}</ds:Signature>"), 1)
    };
    let first_child_of_root = |sig: &str| {
        let mut doc = without_signature.clone();
        doc.insert_str(root_open_end, sig);
        doc
    };
    let last_child_of_root = |sig: &str| {
        without_signature.replacen("</edXML:edXML>", &format!("{sig}</edXML:edXML>"), 1)
    };
    let in_place = |sig: &str| valid.replacen(signature, sig, 1);

    let other_prefix = forged
        .replace("edXML:", "x:")
        .replacen(
            "<x:edXMLEnvelope>",
            "<x:edXMLEnvelope xmlns:x=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
            1,
        )
        .replacen(
            "<x:AttachmentEncoded>",
            "<x:AttachmentEncoded xmlns:x=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
            1,
        );
    let default_ns = forged
        .replace("edXML:", "")
        .replacen(
            "<edXMLEnvelope>",
            "<edXMLEnvelope xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
            1,
        )
        .replacen(
            "<AttachmentEncoded>",
            "<AttachmentEncoded xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
            1,
        );
    // A forged status message: the province "takes back" (13) another dossier.
    let forged_status = format!(
        "<edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageStatus><edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId></edXML:From><edXML:ResponseFor><edXML:Code>{forged_code}</edXML:Code><edXML:DocumentId>000.00.12.H37,2026/11/29,1/LT</edXML:DocumentId></edXML:ResponseFor><edXML:StaffInfo><edXML:Staff>Nguyen Van A</edXML:Staff></edXML:StaffInfo><edXML:StatusCode>13</edXML:StatusCode><edXML:Description>Thu hồi</edXML:Description><edXML:Timestamp>2026/11/29 08:00:00</edXML:Timestamp></edXML:MessageStatus><edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:Timestamp>2026/11/29 08:00:00</edXML:Timestamp></edXML:TraceHeader></edXML:TraceHeaderList></edXML:edXMLHeader></edXML:edXMLEnvelope>"
    );
    let header_with_id = forged.replacen(
        "<edXML:edXMLHeader>",
        "<edXML:edXMLHeader Id=\"signed\">",
        1,
    );
    let to_elsewhere =
        sign_edxml(&unsigned(code, "71", now, "000.00.99.H37"), &good).expect("sign");

    let variants: Vec<(&str, String)> = vec![
        (
            "signature first in the root, forged header and files inside it",
            first_child_of_root(&signature_with(&forged)),
        ),
        (
            "signature last in the root, forged header and files inside it",
            last_child_of_root(&signature_with(&forged)),
        ),
        (
            "signature in place, forged header and files inside it",
            in_place(&signature_with(&forged)),
        ),
        (
            "signature in place, a forged hoso.json attachment inside it",
            in_place(&signature_with(forged_attachment)),
        ),
        (
            "forged header inside ds:Object",
            first_child_of_root(&signature_with(&format!("<ds:Object>{forged}</ds:Object>"))),
        ),
        (
            "forged header inside KeyInfo",
            first_child_of_root(&signature.replacen(
                "</ds:KeyInfo>",
                &format!("{forged}</ds:KeyInfo>"),
                1,
            )),
        ),
        (
            "forged header inside X509Data",
            first_child_of_root(&signature.replacen(
                "</ds:X509Data>",
                &format!("{forged}</ds:X509Data>"),
                1,
            )),
        ),
        (
            "forged header inside SignedInfo",
            first_child_of_root(&signature.replacen(
                "</ds:SignedInfo>",
                &format!("{forged_header}</ds:SignedInfo>"),
                1,
            )),
        ),
        (
            "signature first in the header, forged header inside it",
            without_signature.replacen(
                "<edXML:edXMLHeader>",
                &format!("<edXML:edXMLHeader>{}", signature_with(forged_header)),
                1,
            ),
        ),
        (
            "signature nested in MessageHeader",
            without_signature.replacen(
                "</edXML:MessageHeader>",
                &format!("{signature}</edXML:MessageHeader>"),
                1,
            ),
        ),
        (
            "signature moved last in the root, nothing else changed",
            last_child_of_root(signature),
        ),
        (
            "duplicate header after the signed one",
            valid.replacen(
                "</edXML:edXMLHeader>",
                &format!("</edXML:edXMLHeader>{forged_header}"),
                1,
            ),
        ),
        (
            "duplicate envelope before the signed one",
            valid.replacen(
                "<edXML:edXMLEnvelope>",
                &format!("{forged_envelope}<edXML:edXMLEnvelope>"),
                1,
            ),
        ),
        (
            "Id moved to a forged header inside the signature, reference to it",
            first_child_of_root(&signature_with(&header_with_id).replacen(
                "URI=\"\"",
                "URI=\"#signed\"",
                1,
            )),
        ),
        (
            "comments and a PI around the forged parts",
            first_child_of_root(&signature_with(&format!(
                "<!-- province --><?edxml forged?>{forged}<!-- end -->"
            ))),
        ),
        (
            "another prefix bound to the edXML namespace",
            first_child_of_root(&signature_with(&other_prefix)),
        ),
        (
            "the edXML namespace as default inside the signature",
            first_child_of_root(&signature_with(&default_ns)),
        ),
        ("To is another center", to_elsewhere),
        (
            "forged status 13 (take-back) inside the signature",
            first_child_of_root(&signature_with(&forged_status)),
        ),
        (
            "forged status 13 in place of the signed header",
            valid.replacen(element(&valid, "edXML:edXMLEnvelope"), &forged_status, 1),
        ),
    ];
    assert!(variants.len() >= 10);
    let mut accepted = Vec::new();
    for (name, body) in &variants {
        assert_ne!(body, &valid, "{name}: the variant changes the document");
        let status = post(&as_province, &url, body.clone()).await;
        if status != 400 && status != 401 {
            accepted.push(format!("{name}: answered {status}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "variants not refused with 400 or 401:\n{}",
        accepted.join("\n")
    );

    // Nothing was stored or forwarded.
    for c in [code, forged_code] {
        let (st, _) = t.gw.get(&format!("/v1/dossiers/{c}")).await;
        assert_eq!(st, 404, "{c} must not exist");
        let (_, r) = t.gw.get(&format!("/v1/exchange/received/{c}")).await;
        assert_eq!(r["received"].as_array().map(Vec::len), Some(0), "{r}");
    }
    assert_eq!(
        t.commune.center.posts(),
        0,
        "nothing forwarded to the center"
    );

    // The genuine document is accepted, and what is stored is the genuine dossier.
    assert_eq!(post(&as_province, &url, valid).await, 200);
    let (st, d) = t.gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(st, 200, "{d}");
    let (st, _) = t.gw.get(&format!("/v1/dossiers/{forged_code}")).await;
    assert_eq!(st, 404);
}

/// Peak resident memory of a process (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

/// A namespace-declaration bomb: 256 nested elements, each declaring 255 long prefixes (about
/// 8 MB, within the body limits). A parser that copies the in-scope namespaces at every level
/// needs gigabytes for it; it must be refused (400) on `/v1/exchange` and
/// `/v1/callbacks/investment` while the gateway's peak memory stays under 200 MiB.
#[tokio::test]
async fn a_namespace_bomb_is_refused_in_bounded_memory() {
    let (province, commune) = province_and_commune().await;
    let extra =
        "\n[callbacks.investment]\ntrust = \"peer\"\nsigners = [\"he-thong-dau-tu.example\"]\n";
    let gw = commune
        .start(&commune.config(&province, &province.exchange_url(), extra))
        .await;
    let pid = gw.pid().expect("running");
    let before = peak_rss(pid);

    let uri = format!("urn:lienthong:bomb:{}", "x".repeat(90));
    let level = |root: &str, i: usize| {
        let decls: String = (0..255)
            .map(|p| format!(" xmlns:p{i}x{p}=\"{uri}:{p}\""))
            .collect();
        format!("<{root}{decls}>")
    };
    let bomb = |root: &str, ns: &str| {
        let mut doc = String::with_capacity(9 << 20);
        doc.push_str(&format!("<{root} xmlns=\"{ns}\">"));
        for i in 0..255 {
            doc.push_str(&level("e", i));
        }
        for _ in 0..255 {
            doc.push_str("</e>");
        }
        doc.push_str(&format!("</{root}>"));
        doc
    };
    let exchange = bomb("edXML", "http://www.mic.gov.vn/TBT/QCVN_102_2016");
    assert!(exchange.len() > 7 << 20, "{} bytes", exchange.len());
    let status = post(
        &commune.peer_client(&province),
        &commune.exchange_url(),
        exchange,
    )
    .await;
    assert_eq!(status, 400, "exchange");
    let resp = commune
        .peer_client(&province)
        .post(format!(
            "https://localhost:{}/v1/callbacks/investment",
            commune.port
        ))
        .header("content-type", "application/xml")
        .body(bomb("KetQuaDauTu", "urn:lienthong:dautu:1"))
        .send()
        .await
        .expect("push");
    let st = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(
        st,
        400,
        "investment callback: {text} (peak RSS {} MiB)",
        peak_rss(pid) >> 20
    );

    let peak = peak_rss(pid);
    assert!(
        peak < 200 << 20,
        "peak RSS {} MiB (before the bombs: {} MiB)",
        peak >> 20,
        before >> 20
    );
    // Still serving.
    let (st, _) = gw.get("/healthz").await;
    assert_eq!(st, 200);
}
