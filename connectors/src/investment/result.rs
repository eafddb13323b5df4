//! The investment system's decision, pushed to `POST /v1/callbacks/investment` (provisional
//! profile): a `KetQuaDauTu` document in Lienthong's investment namespace, signed by the system
//! (XML-DSig over the whole document), verified against the trust store configured for it and
//! its allowed signer names.
//!
//! ```xml
//! <KetQuaDauTu xmlns="urn:lienthong:dautu:1">
//!   <MaHoSo>…</MaHoSo> <KetQua>CAP | TU_CHOI</KetQua>
//!   <MaSoDuAn>…</MaSoDuAn> <SoGiayChungNhan>…</SoGiayChungNhan>   (when CAP)
//!   <NgayQuyetDinh>yyyyMMddHHmmss</NgayQuyetDinh> <GhiChu>…</GhiChu>
//!   <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">…</Signature>
//! </KetQuaDauTu>
//! ```
//! It is answered `{"MaLoi", "MoTa"}` (0 taken; 1 malformed, 2 signature, 3 too old, 4 unknown
//! dossier, 5 a dossier that was not sent to the investment system).

use lienthong_certs::sha256_hex;
use lienthong_certs::trust::TrustStore;
use lienthong_certs::xml::{Document, Limits};
use lienthong_certs::xmldsig::{self, DsigError, Expected, VerifyPolicy};
use lienthong_mappings::{Actor, DossierStatus, StatusEvent};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::push::{Authentication, Credential, PushError, PushSource, ReadPush, portal_time};

/// The investment system as a push source (`investment`): listed in the gateway's
/// `PUSH_SOURCES`. Its decisions move the dossier (a status event), only for a dossier that was
/// delivered to an `investment` destination.
#[derive(Debug, Clone, Copy)]
pub struct InvestmentSource;

/// The investment system's decision.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvestmentDecision {
    /// Registration granted (cấp giấy chứng nhận).
    Granted,
    /// Registration refused.
    Refused,
}

/// `investment.result`: the National Investment Information System's signed decision on a
/// registration (verified before it is told).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct InvestmentResultNotice {
    /// Granted or refused.
    pub decision: InvestmentDecision,
    /// The project code (mã số dự án), when granted.
    pub project_code: Option<String>,
    /// The certificate number, when granted.
    pub certificate_number: Option<String>,
    /// When it was decided (RFC 3339).
    pub decided_at: Option<String>,
    /// The decision's note.
    pub note: String,
    /// Subject of the certificate that signed it.
    pub signer: String,
}

impl PushSource for InvestmentSource {
    fn name(&self) -> &'static str {
        "investment"
    }

    fn authentication(&self) -> Authentication {
        Authentication::Signature
    }

    fn read(&self, body: &[u8], credential: Credential<'_>) -> Result<ReadPush, PushError> {
        let (trust, signers) = credential.signature()?;
        let xml =
            std::str::from_utf8(body).map_err(|_| PushError::Malformed("not UTF-8".into()))?;
        let r = InvestmentResult::read(xml, trust, signers)?;
        let dedupe_key = sha256_hex(
            format!(
                "{}|{:?}|{:?}|{:?}|{}",
                r.dossier_code,
                r.decision,
                r.project_code,
                r.certificate_number,
                r.decided_at.unix_timestamp()
            )
            .as_bytes(),
        );
        let notice = InvestmentResultNotice {
            decision: match r.decision {
                Decision::Granted => InvestmentDecision::Granted,
                Decision::Refused => InvestmentDecision::Refused,
            },
            project_code: r.project_code.clone(),
            certificate_number: r.certificate_number.clone(),
            decided_at: r
                .decided_at
                .format(&time::format_description::well_known::Rfc3339)
                .ok(),
            note: r.note.clone(),
            signer: r.signer.clone(),
        };
        Ok(ReadPush {
            event: "investment.result",
            dedupe_key,
            dossier_code: r.dossier_code.clone(),
            dated: Some(("NgayQuyetDinh".to_owned(), r.decided_at)),
            // Kept as received: the signed document is the evidence.
            kept: Value::String(xml.to_owned()),
            notice: serde_json::to_value(&notice)
                .map_err(|e| PushError::Malformed(format!("investment notice: {e}")))?,
            decision: Some(r.status_event()),
            signed_by: Some(r.signed_by),
        })
    }

    fn notices(&self) -> Vec<(&'static str, schemars::Schema)> {
        vec![(
            "investment.result",
            schemars::schema_for!(InvestmentResultNotice),
        )]
    }

    /// The system's answer: taken.
    fn accepted(&self) -> Value {
        json!({ "MaLoi": "0", "MoTa": "Thành công" })
    }

    /// The system's answer to a refused push.
    fn refused(&self, e: &PushError) -> Value {
        let code = match e {
            PushError::Malformed(_) => "1",
            PushError::Forged(_) => "2",
            PushError::Stale(_) => "3",
            PushError::UnknownDossier(_) => "4",
            PushError::NotApplicable(_) => "5",
        };
        json!({ "MaLoi": code, "MoTa": e.to_string() })
    }

    /// The system's answer when the province cannot take it now.
    fn unavailable(&self) -> Value {
        json!({ "MaLoi": "99", "MoTa": "Hệ thống tạm thời không tiếp nhận được, vui lòng gửi lại" })
    }
}

/// Namespace of the provisional investment profile.
pub const NS: &str = "urn:lienthong:dautu:1";

/// What the investment system decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `CAP`: the registration certificate is issued.
    Granted,
    /// `TU_CHOI`: refused.
    Refused,
}

/// A verified decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvestmentResult {
    /// `MaHoSo`.
    pub dossier_code: String,
    /// `KetQua`.
    pub decision: Decision,
    /// `MaSoDuAn` (project code), when granted.
    pub project_code: Option<String>,
    /// `SoGiayChungNhan` (certificate number), when granted.
    pub certificate_number: Option<String>,
    /// `NgayQuyetDinh`.
    pub decided_at: OffsetDateTime,
    /// `GhiChu`.
    pub note: String,
    /// Subject of the certificate that signed it.
    pub signer: String,
    /// The SignatureValue (kept as evidence and as the dedupe key).
    pub signature_value: String,
    /// The signer's certificate as the trust store validated it (for an OCSP check).
    pub signed_by: lienthong_certs::trust::VerifiedSigner,
}

impl InvestmentResult {
    /// Parses (no DTD, size and depth limits) and verifies a pushed result: the whole document
    /// must be signed by a certificate of `trust` whose name is one of `signers` (none is
    /// accepted when `signers` is empty: the configuration requires it).
    ///
    /// Errors: [`PushError::Malformed`] naming the element, [`PushError::Forged`] for the
    /// signature or the signer.
    pub fn read(xml: &str, trust: &TrustStore, signers: &[String]) -> Result<Self, PushError> {
        let limits = Limits::default();
        let doc = Document::parse(xml, limits)
            .map_err(|e| PushError::Malformed(format!("not well-formed XML: {e}")))?;
        let verified = xmldsig::verify_parsed(
            doc,
            &VerifyPolicy {
                limits,
                ..VerifyPolicy::new(trust, &Expected::WholeDocument)
            },
        )
        .map_err(|e| match e {
            DsigError::Xml(x) => PushError::Malformed(x.to_string()),
            other => PushError::Forged(format!("signature not accepted: {other}")),
        })?;
        let cert = &verified.signer.certificate;
        if !signers.iter().any(|s| cert.subject_matches(s)) {
            return Err(PushError::Forged(format!(
                "signed by {}, not an allowed signer",
                cert.subject
            )));
        }
        // Read exactly what the signature covers: the fields are the root's own children
        // (never a search, which could find a copy elsewhere), each at most once, and the
        // Signature sits where the profile puts it, as a child of the root.
        let doc = &verified.document;
        let root = doc.root();
        if !doc.element(root).is_some_and(|e| e.is(NS, "KetQuaDauTu")) {
            return Err(PushError::Malformed(format!(
                "the root must be KetQuaDauTu in {NS}"
            )));
        }
        if doc.node(verified.signature).parent != Some(root) {
            return Err(PushError::Forged(
                "signature not accepted: the Signature must be a child of KetQuaDauTu".into(),
            ));
        }
        let mut fields = std::collections::BTreeMap::new();
        for (n, e) in doc.child_elements(root) {
            if &*e.ns == NS && fields.insert(e.local.as_str(), n).is_some() {
                return Err(PushError::Malformed(format!(
                    "{}: appears more than once",
                    e.local
                )));
            }
        }
        let field = |local: &str| {
            fields
                .get(local)
                .map(|&n| doc.text(n).trim().to_owned())
                .filter(|t| !t.is_empty())
        };
        let required = |local: &str| {
            field(local).ok_or_else(|| PushError::Malformed(format!("{local}: missing")))
        };
        let decision = match required("KetQua")?.as_str() {
            "CAP" => Decision::Granted,
            "TU_CHOI" => Decision::Refused,
            other => {
                return Err(PushError::Malformed(format!(
                    "KetQua: `{other}` is not CAP or TU_CHOI"
                )));
            }
        };
        let (project_code, certificate_number) = match decision {
            Decision::Granted => (
                Some(required("MaSoDuAn")?),
                Some(required("SoGiayChungNhan")?),
            ),
            Decision::Refused => (field("MaSoDuAn"), field("SoGiayChungNhan")),
        };
        Ok(Self {
            dossier_code: required("MaHoSo")?,
            decision,
            project_code,
            certificate_number,
            decided_at: portal_time("NgayQuyetDinh", &required("NgayQuyetDinh")?)?,
            note: field("GhiChu").unwrap_or_default(),
            signer: cert.subject.clone(),
            signature_value: verified.signature_value.clone(),
            signed_by: verified.signer.clone(),
        })
    }
}

impl InvestmentResult {
    /// The decision as a status event: granted → `processed` (with the project code and
    /// certificate number), refused → `rejected`.
    pub fn status_event(&self) -> StatusEvent {
        let (status, note) = match self.decision {
            Decision::Granted => (
                DossierStatus::Processed,
                format!(
                    "Cấp Giấy chứng nhận đăng ký đầu tư số {}, mã số dự án {}",
                    self.certificate_number.as_deref().unwrap_or("?"),
                    self.project_code.as_deref().unwrap_or("?")
                ),
            ),
            Decision::Refused => (DossierStatus::Rejected, format!("Từ chối: {}", self.note)),
        };
        StatusEvent {
            id: format!(
                "investment:{}:{}",
                match self.decision {
                    Decision::Granted => "granted",
                    Decision::Refused => "refused",
                },
                self.certificate_number.as_deref().unwrap_or("-")
            ),
            at: self.decided_at,
            status,
            actor: Actor {
                name: "Hệ thống thông tin quốc gia về đầu tư".into(),
                title: None,
                unit: None,
            },
            note: Some(note),
            due_at: None,
            exchange: None,
        }
    }
}
