//! The peer connector against a small peer center on loopback that verifies what it receives.

use std::sync::Arc;

use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::Pki;
use lienthong_certs::xmldsig::XmlSignatureAlgorithm;
use lienthong_mappings::{Dossier, ProgressInput, StatusEvent};
use lienthong_tests::peer_sim::PeerSim;

use super::*;

fn connector(pki: &Pki, url: &str) -> PeerConnector {
    connector_with(pki, url, "attachments = false\n", fetcher(&[], &[]))
}

/// A file fetcher allowing `urls` (prefixes) and `networks`.
fn fetcher(urls: &[&str], networks: &[&str]) -> FileFetcher {
    let config = crate::files::AttachmentsConfig {
        allowed_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        allowed_networks: networks.iter().map(|n| (*n).to_owned()).collect(),
        ..crate::files::AttachmentsConfig::default()
    };
    FileFetcher::new(crate::files::FilePolicy::new(&config).unwrap()).unwrap()
}

fn connector_with(pki: &Pki, url: &str, extra: &str, files: FileFetcher) -> PeerConnector {
    connector_secured(pki, url, extra, files, &OutboundSecurity::default())
}

fn connector_secured(
    pki: &Pki,
    url: &str,
    extra: &str,
    files: FileFetcher,
    security: &OutboundSecurity,
) -> PeerConnector {
    let leaf = pki.leaf("Trung tam PVHCC tinh", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let key = Arc::new(PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "key").unwrap());
    let signer = Signer::new(
        key,
        vec![leaf.cert.clone()],
        XmlSignatureAlgorithm::EcdsaSha256,
    )
    .unwrap();
    let config: PeerConfig = toml::from_str(&format!(
        "url = \"{url}\"\norgan_id = \"000.00.12.H37\"\norgan_name = \"UBND xã Gia Viễn\"\ntimeout = \"3s\"\n{extra}"
    ))
    .unwrap();
    PeerConnector::new(
        &config,
        Sender {
            organ_id: "000.02.01.H37".into(),
            organ_name: "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình".into(),
            signer: Arc::new(signer),
        },
        security,
        files,
        load_mappings().unwrap(),
    )
    .unwrap()
}

fn dossier() -> Dossier {
    serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))
    .unwrap()
}

fn msg(id: &str, body: MessageBody) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        body,
        attempt: 1,
    }
}

#[tokio::test]
async fn dossiers_and_statuses_arrive_signed_with_their_business_type() {
    let pki = Pki::new("Province CA");
    let peer = PeerSim::start(pki.store("province")).await.unwrap();
    let conn = connector(&pki, &peer.url());
    let create = MessageBody::Dossier {
        op: DossierOp::Create,
        dossier: Box::new(dossier()),
    };
    let out = conn.deliver(&[msg("m-1", create)]).await;
    assert!(
        matches!(&out, Outcome::Delivered { portal: Some(p), .. } if p.code == "01"),
        "{out:?}"
    );
    let update = MessageBody::Dossier {
        op: DossierOp::Update,
        dossier: Box::new(dossier()),
    };
    assert!(matches!(
        conn.deliver(&[msg("m-2", update)]).await,
        Outcome::Delivered { .. }
    ));
    let event: StatusEvent =
        serde_json::from_str(include_str!("../../../examples/event-processing.json")).unwrap();
    let status = MessageBody::Progress(ProgressInput {
        dossier: None,
        response_for: None,
        dossier_code: dossier().code,
        event,
    });
    assert!(matches!(
        conn.deliver(&[msg("m-3", status)]).await,
        Outcome::Delivered { .. }
    ));
    let got = peer.received();
    assert_eq!(got.len(), 3);
    assert!(
        got[0].document_id.starts_with("000.02.01.H37,") && got[0].document_id.ends_with("m1/LT"),
        "{got:?}"
    );
    assert_eq!(got[0].business_doc_type, "0", "new dossier");
    assert_eq!(got[1].business_doc_type, "2", "update");
    assert_eq!(got[2].status_code, "05", "processing status");
    assert_ne!(
        got[0].document_id, got[1].document_id,
        "each message has its own DocumentId"
    );
}

#[tokio::test]
async fn answers_are_classified() {
    let pki = Pki::new("Province CA");
    let peer = PeerSim::start(pki.store("province")).await.unwrap();
    let url = peer.url();
    let conn = connector(&pki, &url);
    let create = || {
        msg(
            "m",
            MessageBody::Dossier {
                op: DossierOp::Create,
                dossier: Box::new(dossier()),
            },
        )
    };
    peer.set_answer(503, "");
    assert!(matches!(
        conn.deliver(&[create()]).await,
        Outcome::Retry { .. }
    ));
    peer.set_answer(400, "");
    assert!(matches!(
        conn.deliver(&[create()]).await,
        Outcome::Reject { .. }
    ));
    peer.set_answer(200, "02");
    assert!(
        matches!(conn.deliver(&[create()]).await, Outcome::Reject { .. }),
        "status 02 is a refusal"
    );
    // A peer that does not trust the sender's CA answers 401: rejected, not retried forever.
    let other = Pki::new("Another CA");
    let stranger = connector(&other, &url);
    peer.set_answer(200, "01");
    let out = stranger.deliver(&[create()]).await;
    assert!(
        matches!(
            &out,
            Outcome::Reject {
                http_status: Some(401),
                ..
            }
        ),
        "{out:?}"
    );
}

/// A direct delivery goes out the way every destination's does (`crate::http::send`): signed
/// (RFC 9421) when the destination says `sign_requests`, and recorded for the audit log.
#[tokio::test]
async fn direct_deliveries_are_signed_and_recorded_like_every_other() {
    use axum::http::HeaderMap;
    use lienthong_certs::httpsig::{HmacSecret, SigningKey, VerifyingKey};
    let secret = b"a secret the province and the commune agreed on".to_vec();
    let verdicts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/exchange", listener.local_addr().unwrap());
    let app = {
        let (verdicts, url, key) = (
            verdicts.clone(),
            url.clone(),
            VerifyingKey::Hmac(HmacSecret::new(secret.clone())),
        );
        axum::Router::new().route(
            "/v1/exchange",
            axum::routing::post(
                move |headers: HeaderMap, body: axum::body::Bytes| async move {
                    let ok =
                        lienthong_tests::signatures::verified("POST", &url, &headers, &body, &key);
                    verdicts.lock().unwrap().push(ok);
                    ""
                },
            ),
        )
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let pki = Pki::new("Province CA");
    let security = OutboundSecurity {
        tls: None,
        signer: Some(Arc::new(crate::http::RequestSigner::new(
            SigningKey::Hmac(HmacSecret::new(secret)),
            "province-hmac",
        ))),
        ..Default::default()
    };
    let conn = connector_secured(
        &pki,
        &url,
        "attachments = false\n",
        fetcher(&[], &[]),
        &security,
    );
    let create = MessageBody::Dossier {
        op: DossierOp::Create,
        dossier: Box::new(dossier()),
    };
    let (out, evidence) = crate::evidence::collect(conn.deliver(&[msg("m-signed", create)])).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    assert_eq!(*verdicts.lock().unwrap(), [true], "the signature verifies");
    assert!(evidence.payload_sha256.is_some(), "{evidence:?}");
    assert!(evidence.signature.is_some(), "{evidence:?}");
}

/// The center's document storage: serves `/files/{name}` with fixed contents.
async fn file_server() -> String {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    async fn file(Path(name): Path<String>) -> axum::response::Response {
        use axum::response::IntoResponse;
        match name.as_str() {
            "don.pdf" => (StatusCode::OK, b"%PDF-1.7 don de nghi".to_vec()).into_response(),
            "big.pdf" => (StatusCode::OK, vec![b'x'; 4096]).into_response(),
            // A redirect to the gateway's own admin API would be followed by a naive client.
            "moved.pdf" => (
                StatusCode::FOUND,
                [(header::LOCATION, "http://127.0.0.1:8440/v1/deliveries")],
            )
                .into_response(),
            _ => (StatusCode::NOT_FOUND, Vec::new()).into_response(),
        }
    }
    let app = axum::Router::new().route("/files/{name}", axum::routing::get(file));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/files")
}

fn with_files(files: &str, names: &[(&str, Option<&str>)]) -> MessageBody {
    let mut d = dossier();
    let template = d.documents[0].clone();
    d.documents = names
        .iter()
        .enumerate()
        .map(|(i, (name, sha))| {
            let mut doc = template.clone();
            doc.id = format!("tp-{i}");
            doc.url = format!("{files}/{name}");
            doc.sha256 = sha.map(str::to_string);
            doc
        })
        .collect();
    MessageBody::Dossier {
        op: DossierOp::Create,
        dossier: Box::new(d),
    }
}

#[tokio::test]
async fn files_travel_in_attachment_encoded_checked_and_size_limited() {
    let pki = Pki::new("Province CA");
    let peer = PeerSim::start(pki.store("province")).await.unwrap();
    let files = file_server().await;
    let conn = connector_with(
        &pki,
        &peer.url(),
        "max_attachment_bytes = 1024\n",
        fetcher(&[&format!("{files}/")], &["127.0.0.0/8"]),
    );
    let sha = lienthong_certs::sha256_hex(b"%PDF-1.7 don de nghi");
    let out = conn
        .deliver(&[msg(
            "m-1",
            with_files(&files, &[("don.pdf", Some(&sha)), ("don.pdf", None)]),
        )])
        .await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    let got = peer.received();
    // The canonical dossier travels first, as hoso.json.
    let (data_id, data) = &got[0].attachments[0];
    assert_eq!(data_id, DOSSIER_DATA_ID);
    let carried: Dossier = serde_json::from_slice(data).unwrap();
    assert_eq!(carried.code, dossier().code);
    assert_eq!(
        got[0].attachments[1..],
        vec![
            ("tp-0".to_string(), b"%PDF-1.7 don de nghi".to_vec()),
            ("tp-1".to_string(), b"%PDF-1.7 don de nghi".to_vec()),
        ]
    );
    for (names, why) in [
        (vec![("don.pdf", Some("00".repeat(32)))], "SHA-256"),
        (vec![("missing.pdf", None)], "HTTP 404"),
        (vec![("big.pdf", None)], "larger than 1024"),
        (vec![("moved.pdf", None)], "redirects are not followed"),
    ] {
        let names: Vec<(&str, Option<&str>)> =
            names.iter().map(|(n, s)| (*n, s.as_deref())).collect();
        let out = conn
            .deliver(&[msg("m-2", with_files(&files, &names))])
            .await;
        match out {
            Outcome::Reject { error, .. } => assert!(error.contains(why), "{error}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    assert_eq!(
        peer.received().len(),
        1,
        "nothing is sent without its files"
    );
}

/// A dossier cannot make the gateway fetch what is not the center's document store: another
/// path or port of the same host, the loopback address when its network is not listed, a name
/// that resolves to loopback. Each fails its delivery (a rejection naming the file), and nothing
/// is sent.
#[tokio::test]
async fn files_outside_the_document_store_are_not_fetched() {
    let pki = Pki::new("Province CA");
    let peer = PeerSim::start(pki.store("province")).await.unwrap();
    let files = file_server().await;
    let port = files
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/files");
    // Allowed prefixes, but loopback is not an allowed network.
    let strict = connector_with(
        &pki,
        &peer.url(),
        "",
        fetcher(
            &[
                &format!("{files}/"),
                &format!("http://localhost:{port}/files/"),
            ],
            &[],
        ),
    );
    for (url, why) in [
        (
            format!("{files}/don.pdf"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("http://localhost:{port}/files/don.pdf"),
            "a loopback address not in [attachments] allowed_networks",
        ),
        (
            format!("http://127.0.0.1:{port}/other/don.pdf"),
            "not under an allowed prefix",
        ),
        (peer.url(), "not under an allowed prefix"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "not under an allowed prefix",
        ),
    ] {
        let mut body = with_files(&files, &[("don.pdf", None)]);
        if let MessageBody::Dossier { dossier, .. } = &mut body {
            dossier.documents[0].url = url.clone();
        }
        match strict.deliver(&[msg("m-ssrf", body)]).await {
            Outcome::Reject { error, .. } => {
                assert!(error.contains(why), "{url}: {error}");
                assert!(error.contains("tp-0"), "the file is named: {error}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(peer.received().is_empty(), "nothing was sent");
}

mod reading {
    use super::*;
    use crate::peer::inbound::{Inbound, InboundError, KnownPeer, Receiver};
    use lienthong_certs::xml::Limits;

    fn known(pki: &Pki, signers: &[&str]) -> Vec<KnownPeer> {
        vec![KnownPeer {
            organ_id: "000.02.01.H37".into(),
            trust: Arc::new(pki.store("province")),
            signers: signers.iter().map(|s| s.to_string()).collect(),
        }]
    }

    /// Reads as the commune (the connector's documents are addressed to it).
    fn read(xml: &str, peers: &[KnownPeer], limits: Limits) -> Result<Inbound, InboundError> {
        crate::peer::inbound::read(
            xml,
            &Receiver {
                organ_id: "000.00.12.H37",
                peers,
                limits,
            },
        )
    }

    fn dossier_document(pki: &Pki) -> String {
        let conn = connector(pki, "http://127.0.0.1:9/v1/exchange");
        let body = MessageBody::Dossier {
            op: DossierOp::Update,
            dossier: Box::new(dossier()),
        };
        let attachments = vec![json!({
            "content_id": "tp-0", "content_type": "application/pdf", "name": "don.pdf",
            "description": "Đơn", "content": "JVBERi0xLjc="
        })];
        conn.document(&body, "m-9", attachments).unwrap()
    }

    #[test]
    fn a_signed_dossier_message_from_a_known_peer_is_believed() {
        let pki = Pki::new("Province CA");
        let xml = dossier_document(&pki);
        let got = read(
            &xml,
            &known(&pki, &["Trung tam PVHCC tinh"]),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(got.from, "000.02.01.H37");
        assert!(got.document_id.ends_with("m9/LT"), "{got:?}");
        assert_eq!(got.business_doc_type, Some(2));
        assert_eq!(got.dossier_code, dossier().code);
        assert_eq!(got.attachments.len(), 1);
        assert_eq!(got.attachments[0].content_id, "tp-0");
        assert_eq!(got.attachments[0].name, "don.pdf");
        assert_eq!(got.attachments[0].content_type, "application/pdf");
        assert_eq!(got.attachments[0].bytes().unwrap(), b"%PDF-1.7");
        assert!(!got.signature_value.is_empty());
        assert_eq!(got.dedupe_key(), got.document_id);
        assert_eq!(
            got.from_name,
            "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình"
        );
        assert!(got.subject.is_some());
        // The trace time is this sending (second precision, Vietnam time).
        let age = time::OffsetDateTime::now_utc() - got.sent_at.expect("trace time");
        assert!(age.whole_seconds().abs() <= 5, "{age}");
    }

    #[test]
    fn the_arrival_answer_is_a_signed_status_01_about_the_received_document() {
        let pki = Pki::new("Province CA");
        let received = read(
            &dossier_document(&pki),
            &known(&pki, &["Trung tam PVHCC tinh"]),
            Limits::default(),
        )
        .unwrap();
        // The commune answers with its own identity, trusted by the province.
        let commune = pki.leaf("UBND xa Gia Vien", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let key = Arc::new(PrivateKey::from_bytes(commune.key_pem.as_bytes(), "key").unwrap());
        let signer = Signer::new(
            key,
            vec![commune.cert.clone()],
            XmlSignatureAlgorithm::EcdsaSha256,
        )
        .unwrap();
        let answerer = crate::peer::answer::Answerer::new(Sender {
            organ_id: "000.00.12.H37".into(),
            organ_name: "UBND xã Gia Viễn".into(),
            signer: Arc::new(signer),
        })
        .unwrap();
        let xml = answerer
            .arrived(&received, time::OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(super::classify::status_of(&xml).unwrap().code, "01");
        let commune_peer = vec![KnownPeer {
            organ_id: "000.00.12.H37".into(),
            trust: Arc::new(pki.store("commune")),
            signers: vec!["UBND xa Gia Vien".into()],
        }];
        let answer = read(&xml, &commune_peer, Limits::default()).unwrap();
        assert_eq!(answer.status_code.as_deref(), Some("01"));
        assert_eq!(
            answer.document_id, received.document_id,
            "ResponseFor/DocumentId"
        );
        assert_eq!(answer.dossier_code, received.dossier_code);
    }

    #[test]
    fn status_dedupe_keys_tell_resends_from_new_statuses() {
        let pki = Pki::new("Province CA");
        let conn = connector(&pki, "http://127.0.0.1:9/v1/exchange");
        let event: StatusEvent =
            serde_json::from_str(include_str!("../../../examples/event-processing.json")).unwrap();
        let status = |event: StatusEvent, id: &str| {
            let body = MessageBody::Progress(ProgressInput {
                dossier: None,
                response_for: Some("000.00.12.H37,2026/11/27,77/LT".into()),
                dossier_code: dossier().code,
                event,
            });
            let xml = conn.document(&body, id, Vec::new()).unwrap();
            read(
                &xml,
                &known(&pki, &["Trung tam PVHCC tinh"]),
                Limits::default(),
            )
            .unwrap()
        };
        let first = status(event.clone(), "m-20");
        let resent = status(event.clone(), "m-20");
        assert_eq!(first.document_id, "000.00.12.H37,2026/11/27,77/LT");
        assert_eq!(first.dedupe_key(), resent.dedupe_key());
        let mut later = event.clone();
        later.at += time::Duration::hours(1);
        assert_ne!(first.dedupe_key(), status(later, "m-21").dedupe_key());
        let mut other_note = event;
        other_note.note = Some("Chuyển phòng chuyên môn".into());
        assert_ne!(first.dedupe_key(), status(other_note, "m-22").dedupe_key());
    }

    #[test]
    fn a_status_message_is_read_with_its_code() {
        let pki = Pki::new("Province CA");
        let conn = connector(&pki, "http://127.0.0.1:9/v1/exchange");
        let event: StatusEvent =
            serde_json::from_str(include_str!("../../../examples/event-processing.json")).unwrap();
        let body = MessageBody::Progress(ProgressInput {
            dossier: None,
            response_for: None,
            dossier_code: dossier().code,
            event,
        });
        let xml = conn.document(&body, "m-10", Vec::new()).unwrap();
        let got = read(
            &xml,
            &known(&pki, &["Trung tam PVHCC tinh"]),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(got.status_code.as_deref(), Some("05"));
        assert_eq!(got.business_doc_type, None);
        assert_eq!(got.dossier_code, dossier().code);
    }

    #[test]
    fn refusals_name_their_reason_and_status() {
        let pki = Pki::new("Province CA");
        let xml = dossier_document(&pki);
        // The signer's certificate does not name the sending agency.
        let e = read(&xml, &known(&pki, &[]), Limits::default()).unwrap_err();
        assert!(matches!(e, InboundError::WrongSigner { .. }), "{e}");
        assert_eq!(e.http_status(), 403);
        // Not a configured peer.
        let e = read(&xml, &[], Limits::default()).unwrap_err();
        assert_eq!(e, InboundError::UnknownPeer("000.02.01.H37".into()));
        // Another CA.
        let other = Pki::new("Other CA");
        let e = read(
            &xml,
            &known(&other, &["Trung tam PVHCC tinh"]),
            Limits::default(),
        )
        .unwrap_err();
        assert_eq!(e.http_status(), 401, "{e}");
        // Changed after signing.
        let tampered = xml.replacen(
            "<edXML:BussinessDocType>2<",
            "<edXML:BussinessDocType>1<",
            1,
        );
        assert_ne!(tampered, xml);
        let e = read(
            &tampered,
            &known(&pki, &["Trung tam PVHCC tinh"]),
            Limits::default(),
        )
        .unwrap_err();
        assert_eq!(e.http_status(), 401, "{e}");
        // Not edXML at all, or a DTD.
        for bad in [
            "not xml",
            "<a/>",
            "<!DOCTYPE x [<!ENTITY e \"x\">]><x>&e;</x>",
        ] {
            let e = read(bad, &known(&pki, &[]), Limits::default()).unwrap_err();
            assert_eq!(e.http_status(), 400, "{bad}: {e}");
        }
    }
}

/// The edXML status codes are the peer kind's table: each defined code moves a dossier to its
/// canonical status or is recorded only, and a code the standard does not define is refused,
/// naming the codes it knows.
#[test]
fn edxml_status_codes_map_to_canonical_statuses_and_others_are_refused() {
    use super::inbound::{InboundError, canonical_status};
    use lienthong_mappings::DossierStatus;
    for (code, status) in [
        ("01", None),
        ("02", Some(DossierStatus::Rejected)),
        ("03", Some(DossierStatus::Accepted)),
        ("04", Some(DossierStatus::Processing)),
        ("05", Some(DossierStatus::Processing)),
        ("06", Some(DossierStatus::Processed)),
        ("13", Some(DossierStatus::Withdrawn)),
        ("15", None),
        ("16", None),
    ] {
        assert_eq!(canonical_status(code), Ok(status), "{code}");
    }
    for code in ["00", "07", "14", "1", "", "AB"] {
        match canonical_status(code) {
            Err(InboundError::Malformed(m)) => {
                assert!(m.contains("01-06, 13, 15, 16"), "{code}: {m}");
            }
            other => panic!("{code}: {other:?}"),
        }
    }
}
