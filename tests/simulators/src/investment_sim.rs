//! The National Investment Information System as far as Lienthong sees it (provisional profile):
//! - `POST /dangKyDauTu` takes a signed registration (XML), verifies its XML-DSig signature
//!   against the center's CA (the same check a real receiver would make), keeps it and answers
//!   `{"MaLoi": "0", "MoTa", "SoTiepNhan"}`; a bad signature or a missing element is answered
//!   `{"MaLoi": "2"|"1", "MoTa"}`; it can be switched down (503) or told to refuse;
//! - [`InvestmentSim::result`] writes the decision the system pushes back, signed with the
//!   system's own certificate (its CA: [`InvestmentSim::ca_pem`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::Pki;
use lienthong_certs::trust::TrustStore;
use lienthong_certs::xmldsig::{
    self, Expected, SignOptions, Signer, VerifyPolicy, XmlSignatureAlgorithm,
};
use serde_json::json;

/// The CN of the system's signing certificate (an allowed signer name in the gateway's config).
pub const SIGNER_CN: &str = "he-thong-dau-tu.mpi.gov.vn";

#[derive(Default)]
struct Inner {
    registrations: Vec<String>,
    posts: usize,
    down: bool,
    refuse: bool,
}

/// A running investment-system simulator.
#[derive(Clone)]
pub struct InvestmentSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    center_trust: Arc<TrustStore>,
    signer: Arc<Signer>,
    ca_pem: String,
}

impl InvestmentSim {
    /// Starts on an ephemeral loopback port, believing registrations signed under `center_ca_pem`.
    ///
    /// Errors: the port cannot be bound, or the CA is unreadable.
    pub async fn start(center_ca_pem: &str) -> std::io::Result<Self> {
        let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let certs =
            lienthong_certs::keys::parse_certificates(center_ca_pem.as_bytes(), "center CA")
                .map_err(|e| bad(e.to_string()))?;
        let center_trust = TrustStore::from_parts("center", certs, vec![], vec![], false)
            .map_err(|e| bad(e.to_string()))?;
        let pki = Pki::new("Bo Ke hoach va Dau tu - Test CA");
        let leaf = pki.leaf(SIGNER_CN, &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let key = PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "investment signer")
            .map_err(|e| bad(e.to_string()))?;
        let signer = Signer::new(
            Arc::new(key),
            vec![leaf.cert.clone()],
            XmlSignatureAlgorithm::EcdsaSha256,
        )
        .map_err(|e| bad(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim = Self {
            addr: listener.local_addr()?,
            inner: Arc::default(),
            center_trust: Arc::new(center_trust),
            signer: Arc::new(signer),
            ca_pem: pki.ca_pem.clone(),
        };
        let app = Router::new()
            .route("/dangKyDauTu", post(register))
            .with_state(sim.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT/dangKyDauTu`.
    pub fn url(&self) -> String {
        format!("http://{}/dangKyDauTu", self.addr)
    }

    /// The system's CA (PEM), for the gateway's `[trust.<name>]`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Refuses every registration as invalid while `refuse`.
    pub fn set_refuse(&self, refuse: bool) {
        self.lock().refuse = refuse;
    }

    /// The signed registrations taken, as received.
    pub fn registrations(&self) -> Vec<String> {
        self.lock().registrations.clone()
    }

    /// Every POST seen.
    pub fn posts(&self) -> usize {
        self.lock().posts
    }

    /// Waits until `n` registrations are taken, or `within` passes.
    pub async fn wait_registrations(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.lock().registrations.len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.lock().registrations.len() >= n
    }

    /// The decision pushed for `dossier`: granted with `project_code` and `certificate`, or
    /// refused (`None`), decided at `decided_at` (`yyyyMMddHHmmss`), signed by the system.
    ///
    /// Panics if signing fails (a test fixture).
    pub fn result(&self, dossier: &str, granted: Option<(&str, &str)>, decided_at: &str) -> String {
        let body = match granted {
            Some((project, certificate)) => format!(
                "<KetQua>CAP</KetQua><MaSoDuAn>{project}</MaSoDuAn><SoGiayChungNhan>{certificate}</SoGiayChungNhan>"
            ),
            None => "<KetQua>TU_CHOI</KetQua>".to_owned(),
        };
        let xml = format!(
            "<KetQuaDauTu xmlns=\"urn:lienthong:dautu:1\"><MaHoSo>{dossier}</MaHoSo>{body}<NgayQuyetDinh>{decided_at}</NgayQuyetDinh><GhiChu>Kết quả giải quyết hồ sơ đầu tư</GhiChu></KetQuaDauTu>"
        );
        xmldsig::sign(&xml, &self.signer, &SignOptions::default()).expect("sign the result")
    }
}

async fn register(State(sim): State<InvestmentSim>, body: Bytes) -> Response {
    {
        let mut inner = sim.lock();
        inner.posts += 1;
        if inner.down {
            return (StatusCode::SERVICE_UNAVAILABLE, "bảo trì").into_response();
        }
    }
    let Ok(xml) = std::str::from_utf8(&body) else {
        return Json(json!({ "MaLoi": "1", "MoTa": "Không phải UTF-8" })).into_response();
    };
    let expected = Expected::WholeDocument;
    if let Err(e) = xmldsig::verify(xml, &VerifyPolicy::new(&sim.center_trust, &expected)) {
        return Json(json!({ "MaLoi": "2", "MoTa": format!("Chữ ký số không hợp lệ: {e}") }))
            .into_response();
    }
    for element in ["<DuAn>", "<NhaDauTu ", "<TongVonDauTu>", "<DiaDiem>"] {
        if !xml.contains(element) {
            return Json(json!({ "MaLoi": "1", "MoTa": format!("Thiếu {element}") }))
                .into_response();
        }
    }
    let mut inner = sim.lock();
    if inner.refuse {
        return Json(json!({ "MaLoi": "4", "MoTa": "Dự án thuộc diện chấp thuận chủ trương" }))
            .into_response();
    }
    inner.registrations.push(xml.to_owned());
    let n = inner.registrations.len();
    Json(json!({ "MaLoi": "0", "MoTa": "Đã tiếp nhận", "SoTiepNhan": format!("DT-{n:06}") }))
        .into_response()
}
