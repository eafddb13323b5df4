//! A peer center's exchange endpoint (`POST /v1/exchange`) for tests: it verifies the edXML
//! signature against its trust store, records `DocumentId`, `BussinessDocType` and `StatusCode`
//! of what it receives, and answers with an edXML status (01 by default), or with a chosen HTTP
//! failure.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use lienthong_certs::trust::TrustStore;
use lienthong_certs::xmldsig::{self, Expected, VerifyPolicy};

/// The edXML namespace.
const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// One received message: `DocumentId`, `BussinessDocType` (dossier messages), `StatusCode`
/// (status messages) and the signer's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `DocumentId`.
    pub document_id: String,
    /// `BussinessDocType`, empty for status messages.
    pub business_doc_type: String,
    /// `StatusCode`, empty for dossier messages.
    pub status_code: String,
    /// `ReferenceCodes` (the dossier code), empty for status messages.
    pub dossier_code: String,
    /// Who signed.
    pub signer: String,
    /// Carried files: `ContentId` and the decoded content.
    pub attachments: Vec<(String, Vec<u8>)>,
}

#[derive(Clone)]
struct Shared {
    trust: Arc<TrustStore>,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<(u16, String)>>,
}

/// A running peer.
pub struct PeerSim {
    addr: SocketAddr,
    shared: Shared,
}

impl PeerSim {
    /// Starts a peer trusting `trust` on an ephemeral loopback port.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start(trust: TrustStore) -> std::io::Result<Self> {
        let shared = Shared {
            trust: Arc::new(trust),
            received: Arc::default(),
            answer: Arc::new(Mutex::new((200, "01".into()))),
        };
        let app = Router::new()
            .route("/v1/exchange", post(exchange))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared })
    }

    /// `http://127.0.0.1:PORT/v1/exchange`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/exchange", self.addr)
    }

    /// What it received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers HTTP `status` (200: an edXML status with `code`).
    pub fn set_answer(&self, status: u16, code: &str) {
        *self.shared.answer.lock().unwrap_or_else(|p| p.into_inner()) = (status, code.to_string());
    }
}

async fn exchange(State(s): State<Shared>, body: String) -> (StatusCode, String) {
    let (status, code) = s.answer.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if status != 200 {
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "unavailable".into(),
        );
    }
    let expected = Expected::WholeDocument;
    let verified = match xmldsig::verify(&body, &VerifyPolicy::new(&s.trust, &expected)) {
        Ok(v) => v,
        Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()),
    };
    let doc = &verified.document;
    let text = |local: &str| {
        doc.elements()
            .find(|(_, e)| e.is(EDXML_NS, local))
            .map(|(n, _)| doc.text(n))
            .unwrap_or_default()
    };
    s.received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Received {
            document_id: text("DocumentId"),
            business_doc_type: text("BussinessDocType"),
            status_code: text("StatusCode"),
            dossier_code: text("ReferenceCodes"),
            signer: verified.signer.certificate.subject.clone(),
            attachments: doc
                .elements()
                .filter(|(_, e)| e.is(EDXML_NS, "Attachment"))
                .map(|(n, _)| {
                    let child = |local: &str| {
                        doc.child(n, EDXML_NS, local)
                            .map(|c| doc.text(c))
                            .unwrap_or_default()
                    };
                    let content = base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        child("ContentTransferEncoded").trim(),
                    )
                    .unwrap_or_default();
                    (child("ContentId"), content)
                })
                .collect(),
        });
    (
        StatusCode::OK,
        format!(
            "<edXML:edXML xmlns:edXML=\"{EDXML_NS}\"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageStatus><edXML:StatusCode>{code}</edXML:StatusCode><edXML:Description>Đã đến</edXML:Description></edXML:MessageStatus></edXML:edXMLHeader></edXML:edXMLEnvelope></edXML:edXML>"
        ),
    )
}
