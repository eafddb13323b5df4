//! The national document-exchange axis (trục liên thông văn bản quốc gia, "VDXP"): peers that are
//! not reached directly exchange edXML through a mailbox service that moves documents by pull —
//! send, list received, fetch, then mark `done` or `fail`.
//!
//! Spoken as the axis's own Java client SDK speaks it (format notes, `vdxp-axis.md`): HTTPS to
//! `{url}/{operation}`; the member system is authenticated by its system id and an HMAC-SHA256,
//! under the shared secret, over a JSON copy of its headers ([`sign`]); every parameter is a
//! header; answers are JSON with `ErrorCode` `"0"` for success, and a refusal may come as HTTP
//! 200 with `"status":"FAIL"`.
//!
//! | operation | parameters (headers) | body | answer |
//! |---|---|---|---|
//! | `sendEdoc` | `from`, `to` (JSON text of the code), `servicetype`, `messagetype` (`edoc`, or `status` for an edXML status message), `hash-file` | `multipart/form-data`, part `file_doc` | `{"status","ErrorCode","ErrorDesc","DocId"}` |
//! | `getReceivedEdocList` | `servicetype`, `messagetype` | — | `{…,"data":[{"docId","from","to","messageType","status","status_desc",…}]}` |
//! | `getEdoc` | `docId` | — | `{…,"data":"<base64 of the edXML>"}` |
//! | `updateStatus` | `docid`, `status` (`done` or `fail`) | — | `{"status","ErrorCode","ErrorDesc"}` |
//!
//! Transport failures, 5xx, 408 and 429 are temporary; another 4xx, or `ErrorCode` other than
//! 0 (whatever the HTTP status), is the axis's refusal, with its `ErrorDesc`. Mutual TLS (the
//! destination's `tls`) and RFC 9421 (`sign_requests`) apply on top where a deployment asks.
//! The fail reason of `updateStatus` has no field in the SDK's call: it is logged, not sent.
//! Only the axis client lives here; the poller that drives it (interval, backoff,
//! verification, storing) is the gateway's.

mod config;
pub mod sign;

pub use config::AxisConfig;

use lienthong_certs::Secret;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::Outcome;
use crate::http::is_retryable_status;

/// A call to the axis failed.
#[derive(Debug, thiserror::Error)]
pub enum AxisError {
    /// No answer, a 5xx/408/429, or an unreadable answer: try again later.
    #[error("axis unavailable: {0}")]
    Unavailable(String),
    /// The axis refused the call (another 4xx, or an `ErrorCode` other than 0).
    #[error("axis refused {operation}: {reason}")]
    Refused {
        /// The operation.
        operation: &'static str,
        /// The axis's reason (`ErrorDesc`).
        reason: String,
    },
    /// The document is larger than allowed; it is marked `fail` rather than read.
    #[error("document {doc_id} is larger than {limit} bytes")]
    TooLarge {
        /// The axis's document id.
        doc_id: String,
        /// The limit.
        limit: u64,
    },
}

/// What an axis message carries (`messagetype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// A document (`edoc`): a dossier.
    Edoc,
    /// An edXML status message (`status`).
    Status,
}

impl MessageType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edoc => "edoc",
            Self::Status => "status",
        }
    }
}

/// One document waiting in the center's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AxisDocument {
    /// The axis's id of the document (not the edXML `DocumentId`).
    #[serde(rename = "docId")]
    pub doc_id: String,
    /// The sending agency, as the axis saw it (the document's own `From` is what is believed).
    #[serde(default)]
    pub from: String,
    /// The axis's status of it, and its description (`status`, `status_desc`).
    #[serde(default)]
    pub status: Option<String>,
}

/// How a fetched document is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Received and stored (or already stored): the axis can forget it.
    Done,
    /// Refused for good, with the reason (logged; the SDK's call has no field for it).
    Fail(String),
}

/// The axis's JSON answer.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "ErrorCode")]
    error_code: Option<Value>,
    #[serde(default, rename = "ErrorDesc")]
    error_desc: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default, rename = "DocId")]
    doc_id: Option<String>,
}

impl Answer {
    /// Success: `ErrorCode` 0 (as text or number), or, without one, a status that is not FAIL.
    fn ok(&self) -> bool {
        match &self.error_code {
            Some(Value::String(c)) => c.trim() == "0",
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(_) => false,
            None => self
                .status
                .as_deref()
                .is_some_and(|s| !s.eq_ignore_ascii_case("FAIL")),
        }
    }

    fn reason(&self) -> String {
        let code = match &self.error_code {
            Some(Value::String(c)) => c.clone(),
            Some(v) => v.to_string(),
            None => "-".into(),
        };
        format!(
            "{} (ErrorCode {code}, status {})",
            self.error_desc.as_deref().unwrap_or("no ErrorDesc"),
            self.status.as_deref().unwrap_or("-")
        )
    }
}

/// Calls the axis as one member system.
pub struct AxisClient {
    base: String,
    organ_id: String,
    system_id: String,
    secret: Secret,
    service_type: String,
    client: reqwest::Client,
    via: crate::http::Via,
}

impl std::fmt::Debug for AxisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AxisClient")
            .field("base", &self.base)
            .field("organ_id", &self.organ_id)
            .field("system_id", &self.system_id)
            .finish_non_exhaustive()
    }
}

impl AxisClient {
    /// A client of the axis at `base` (e.g. `https://truc.example.gov.vn/vdxp`), sending as
    /// `organ_id` under the member system of `account`, with the TLS identity, trust and
    /// request signer of `security`.
    ///
    /// Errors: the HTTP client cannot be built, or the secret file cannot be read.
    pub fn new(
        base: &str,
        organ_id: &str,
        account: &AxisConfig,
        connect_timeout: std::time::Duration,
        timeout: std::time::Duration,
        security: &crate::http::OutboundSecurity,
    ) -> Result<Self, crate::BuildError> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            organ_id: organ_id.to_owned(),
            system_id: account.system_id.clone(),
            secret: account.secret()?,
            service_type: account.service_type.clone(),
            client: crate::http::client(connect_timeout, timeout, security)?,
            via: security.via(),
        })
    }

    /// Probes the axis: reaches its base URL with this center's client, then lists the mailbox
    /// (a signed call, read-only): the system id and secret are accepted, or the axis's
    /// `ErrorDesc` says why not. The agency directory (`getAgenciesList`) is not asked: the
    /// shape of its answer was not observed.
    pub async fn healthcheck(&self) -> crate::health::Health {
        let reach = crate::health::reach(&self.client, &self.base, &self.via).await;
        if reach.is_err() {
            return crate::health::Health::reached_or(reach);
        }
        let auth = match self.list().await {
            Ok(docs) => Ok(format!(
                "system {} accepted ({} waiting)",
                self.system_id,
                docs.len()
            )),
            Err(e) => Err(e.to_string()),
        };
        crate::health::Health {
            reach,
            auth: Some(auth),
        }
    }

    fn url(&self, operation: &str) -> String {
        format!("{}/{operation}", self.base)
    }

    /// The signed headers of a call with `params` (after `systemid` and `timestamp`) and the
    /// body's `content_type`.
    fn headers(&self, params: &[(&str, String)], content_type: &str) -> Vec<(String, String)> {
        let mut all = vec![
            ("systemid".to_owned(), self.system_id.clone()),
            (
                "timestamp".to_owned(),
                sign::timestamp(OffsetDateTime::now_utc()),
            ),
        ];
        all.extend(params.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
        all.push(("Content-Type".to_owned(), content_type.to_owned()));
        sign::sign(&all, &self.secret)
    }

    /// Sends a call and reads its JSON answer (at most `limit` bytes).
    async fn call(
        &self,
        operation: &'static str,
        params: &[(&str, String)],
        body: Option<reqwest::multipart::Form>,
        limit: u64,
    ) -> Result<(StatusCode, Answer), AxisError> {
        let mut req = self.client.post(self.url(operation));
        let content_type = match &body {
            Some(form) => format!("multipart/form-data; boundary={}", form.boundary()),
            None => "application/json".to_owned(),
        };
        let form = body.is_some();
        for (name, value) in self.headers(params, &content_type) {
            // The form sets this very value itself (a second line would be two headers).
            if form && name.eq_ignore_ascii_case("content-type") {
                continue;
            }
            req = req.header(name, value);
        }
        if let Some(form) = body {
            req = req.multipart(form);
        }
        let (client, built) = req.build_split();
        let built = built.map_err(|e| AxisError::Unavailable(e.to_string()))?;
        // Signed, recorded and (through X-Road) addressed like every other request.
        let resp = crate::http::execute(&client, built, &self.via)
            .await
            .map_err(|outcome| {
                let reason = outcome.error().unwrap_or_default().to_owned();
                match outcome {
                    Outcome::Reject { .. } => AxisError::Refused { operation, reason },
                    _ => AxisError::Unavailable(format!("{operation}: {reason}")),
                }
            })?;
        let status = resp.status();
        let bytes = crate::http::read_limited(resp, limit)
            .await
            .map_err(|e| match e {
                crate::http::ReadError::TooLarge { .. } => AxisError::TooLarge {
                    doc_id: String::new(),
                    limit,
                },
                crate::http::ReadError::Transport(t) => {
                    AxisError::Unavailable(format!("{operation}: {t}"))
                }
            })?;
        let answer = serde_json::from_slice::<Answer>(&bytes);
        if is_retryable_status(status) {
            let reason = answer
                .map(|a| a.reason())
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(300).collect());
            return Err(AxisError::Unavailable(format!(
                "{operation}: HTTP {status}: {reason}"
            )));
        }
        let answer = answer.map_err(|e| {
            if status.is_success() {
                AxisError::Unavailable(format!("{operation}: unreadable answer: {e}"))
            } else {
                AxisError::Refused {
                    operation,
                    reason: format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ),
                }
            }
        })?;
        // The SDK reads the answer whatever the HTTP status: a refusal may be a 200.
        if !status.is_success() || !answer.ok() {
            return Err(AxisError::Refused {
                operation,
                reason: format!("HTTP {}: {}", status.as_u16(), answer.reason()),
            });
        }
        Ok((status, answer))
    }

    /// The documents and status messages waiting for this center.
    ///
    /// Errors: the axis is unavailable or refuses.
    pub async fn list(&self) -> Result<Vec<AxisDocument>, AxisError> {
        let mut out = Vec::new();
        for kind in [MessageType::Edoc, MessageType::Status] {
            let (_, answer) = self
                .call(
                    "getReceivedEdocList",
                    &[
                        ("servicetype", self.service_type.clone()),
                        ("messagetype", kind.as_str().to_owned()),
                    ],
                    None,
                    crate::http::MAX_ANSWER_BYTES,
                )
                .await?;
            let data = answer.data.unwrap_or(Value::Array(Vec::new()));
            let docs: Vec<AxisDocument> = serde_json::from_value(data).map_err(|e| {
                AxisError::Unavailable(format!("getReceivedEdocList: unreadable data: {e}"))
            })?;
            out.extend(docs);
        }
        Ok(out)
    }

    /// One document (its `data`, base64-decoded), at most `limit` bytes once decoded.
    ///
    /// Errors: unavailable, refused, larger than `limit`, or not UTF-8 (refused: it cannot be
    /// an XML document in the encoding edXML uses).
    pub async fn fetch(&self, doc_id: &str, limit: u64) -> Result<String, AxisError> {
        let operation = "getEdoc";
        // Base64 is 4/3 of the document, plus the answer's other members.
        let wire_limit = limit.saturating_mul(4) / 3 + 64 * 1024;
        let (_, answer) = self
            .call(operation, &[("docId", doc_id.to_owned())], None, wire_limit)
            .await
            .map_err(|e| match e {
                AxisError::TooLarge { .. } => AxisError::TooLarge {
                    doc_id: doc_id.to_owned(),
                    limit,
                },
                other => other,
            })?;
        let Some(Value::String(data)) = answer.data else {
            return Err(AxisError::Refused {
                operation,
                reason: format!("document {doc_id}: the answer has no base64 data"),
            });
        };
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data.trim())
            .map_err(|e| AxisError::Refused {
                operation,
                reason: format!("document {doc_id}: data is not base64: {e}"),
            })?;
        if bytes.len() as u64 > limit {
            return Err(AxisError::TooLarge {
                doc_id: doc_id.to_owned(),
                limit,
            });
        }
        String::from_utf8(bytes).map_err(|e| AxisError::Refused {
            operation,
            reason: format!(
                "document {doc_id} is not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ),
        })
    }

    /// Marks a document `done` or `fail`.
    ///
    /// Errors: unavailable or refused (the document stays listed and is fetched again).
    pub async fn ack(&self, doc_id: &str, ack: &Ack) -> Result<(), AxisError> {
        let status = match ack {
            Ack::Done => "done",
            Ack::Fail(reason) => {
                tracing::info!(doc = doc_id, reason, "marking the axis document fail");
                "fail"
            }
        };
        self.call(
            "updateStatus",
            &[("docid", doc_id.to_owned()), ("status", status.to_owned())],
            None,
            crate::http::MAX_ANSWER_BYTES,
        )
        .await
        .map(|_| ())
    }

    /// Sends a signed edXML document (a dossier, or a status message) to `to` through the axis,
    /// classified as a delivery outcome: accepted by the axis → delivered (the axis's `DocId`
    /// as the portal's answer); refused (another 4xx, or an `ErrorCode` other than 0 even with
    /// HTTP 200) → rejected with its `ErrorDesc`; otherwise retry.
    pub async fn send(&self, to: &str, kind: MessageType, document: String) -> Outcome {
        let hash = sign::hash_file(document.as_bytes());
        let part = match reqwest::multipart::Part::bytes(document.into_bytes())
            .file_name("edoc.edxml")
            .mime_str("application/xml")
        {
            Ok(p) => p,
            Err(e) => return Outcome::reject(format!("cannot build the sendEdoc body: {e}")),
        };
        let form = reqwest::multipart::Form::new().part("file_doc", part);
        let params = [
            ("from", self.organ_id.clone()),
            // The JSON text of the value: the code with its quotes.
            ("to", Value::String(to.to_owned()).to_string()),
            ("servicetype", self.service_type.clone()),
            ("messagetype", kind.as_str().to_owned()),
            ("hash-file", hash),
        ];
        match self
            .call(
                "sendEdoc",
                &params,
                Some(form),
                crate::http::MAX_ANSWER_BYTES,
            )
            .await
        {
            Ok((status, answer)) => Outcome::Delivered {
                http_status: Some(status.as_u16()),
                portal: Some(crate::PortalAnswer {
                    reference: None,
                    code: "0".into(),
                    message: answer.doc_id.unwrap_or_default(),
                }),
            },
            Err(AxisError::Refused { reason, .. }) => Outcome::Reject {
                error: format!("the axis refused the document: {reason}"),
                http_status: None,
                portal: Some(crate::PortalAnswer {
                    reference: None,
                    code: "FAIL".into(),
                    message: reason,
                }),
            },
            Err(e) => Outcome::Retry {
                error: e.to_string(),
                http_status: None,
                retry_after: None,
                portal: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_tests::axis_sim::{AxisSim, Mark};
    use std::time::Duration;

    const PROVINCE: &str = "000.02.01.H37";
    const COMMUNE: &str = "000.00.12.H37";

    /// A client of `sim` as `agency`, whose account (system id `sys-{agency}`) has `secret`.
    fn client(sim: &AxisSim, dir: &std::path::Path, agency: &str, secret: &str) -> AxisClient {
        let file = dir.join(format!("{agency}.secret"));
        std::fs::write(&file, secret).expect("secret");
        AxisClient::new(
            &format!("{}/", sim.url()),
            agency,
            &AxisConfig {
                system_id: format!("sys-{agency}"),
                secret_file: file,
                service_type: "eDoc".into(),
            },
            Duration::from_secs(2),
            Duration::from_secs(5),
            &crate::http::OutboundSecurity::default(),
        )
        .expect("client")
    }

    async fn two() -> (AxisSim, tempfile::TempDir, AxisClient, AxisClient) {
        let sim = AxisSim::start().await.expect("axis");
        sim.register(&format!("sys-{PROVINCE}"), "bi-mat-tinh", PROVINCE);
        sim.register(&format!("sys-{COMMUNE}"), "bi-mat-xa", COMMUNE);
        let dir = tempfile::tempdir().expect("dir");
        let province = client(&sim, dir.path(), PROVINCE, "bi-mat-tinh");
        let commune = client(&sim, dir.path(), COMMUNE, "bi-mat-xa");
        (sim, dir, province, commune)
    }

    #[tokio::test]
    async fn axis_send_list_fetch_and_mark_as_the_sdk_does() {
        let (sim, _dir, province, commune) = two().await;
        let sent = province
            .send(COMMUNE, MessageType::Edoc, "<edXML>một</edXML>".into())
            .await;
        let Outcome::Delivered { portal, .. } = &sent else {
            panic!("{sent:?} {:?}", sim.refusals())
        };
        let id = portal.as_ref().expect("doc id").message.clone();
        let status = province
            .send(
                COMMUNE,
                MessageType::Status,
                "<edXML>trạng thái</edXML>".into(),
            )
            .await;
        assert_eq!(status.label(), "delivered", "{status:?}");
        assert!(
            province.list().await.expect("list").is_empty(),
            "not the province's mail"
        );
        let listed = commune.list().await.expect("list");
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed[0].doc_id, id);
        assert_eq!(listed[0].from, PROVINCE);
        let types: Vec<String> = sim.docs().iter().map(|d| d.message_type.clone()).collect();
        assert_eq!(types, ["edoc", "status"]);
        assert_eq!(
            commune.fetch(&id, 1024).await.expect("fetch"),
            "<edXML>một</edXML>"
        );
        commune.ack(&id, &Ack::Done).await.expect("done");
        assert_eq!(commune.list().await.expect("list").len(), 1);
        assert_eq!(sim.doc(&id).expect("doc").mark, Mark::Done);
        let other = sim.inject("x", COMMUNE, "<edXML/>");
        commune
            .ack(&other, &Ack::Fail("chữ ký sai".into()))
            .await
            .expect("fail");
        assert_eq!(sim.doc(&other).expect("doc").mark, Mark::Failed);
        assert!(sim.refusals().is_empty(), "{:?}", sim.refusals());
    }

    #[tokio::test]
    async fn axis_a_wrong_secret_is_refused_with_http_200_and_becomes_a_dead_letter() {
        let (sim, dir, _, _) = two().await;
        let forger = client(&sim, dir.path(), PROVINCE, "not-the-secret");
        let sent = forger
            .send(COMMUNE, MessageType::Edoc, "<edXML/>".into())
            .await;
        let Outcome::Reject { error, portal, .. } = &sent else {
            panic!("{sent:?}")
        };
        assert!(error.contains("hash-header"), "{error}");
        assert_eq!(portal.as_ref().expect("answer").code, "FAIL");
        assert!(matches!(
            forger.list().await,
            Err(AxisError::Refused {
                operation: "getReceivedEdocList",
                ..
            })
        ));
        assert!(sim.docs().is_empty());
    }

    #[tokio::test]
    async fn axis_large_unknown_and_unavailable_are_told_apart() {
        let (sim, dir, _, commune) = two().await;
        let big = sim.inject("x", COMMUNE, &"a".repeat(5000));
        assert!(matches!(
            commune.fetch(&big, 4999).await,
            Err(AxisError::TooLarge { limit: 4999, .. })
        ));
        assert_eq!(commune.fetch(&big, 5000).await.expect("fits").len(), 5000);
        assert!(matches!(
            commune.fetch("no-such", 100).await,
            Err(AxisError::Refused {
                operation: "getEdoc",
                ..
            })
        ));
        sim.set_down(true);
        assert!(matches!(
            commune.list().await,
            Err(AxisError::Unavailable(_))
        ));
        let sent = commune
            .send(PROVINCE, MessageType::Edoc, "<edXML/>".into())
            .await;
        assert_eq!(sent.label(), "retry", "{sent:?}");
        sim.set_down(false);
        let file = dir.path().join("x.secret");
        std::fs::write(&file, "s").expect("secret");
        let nowhere = AxisClient::new(
            "http://127.0.0.1:9",
            COMMUNE,
            &AxisConfig {
                system_id: "x".into(),
                secret_file: file,
                service_type: "eDoc".into(),
            },
            Duration::from_millis(500),
            Duration::from_secs(1),
            &crate::http::OutboundSecurity::default(),
        )
        .expect("client");
        assert!(matches!(
            nowhere.list().await,
            Err(AxisError::Unavailable(_))
        ));
    }

    /// The simulator is strict: a call without the SDK's headers, one whose header was changed
    /// after signing, and a file whose `hash-file` does not match are each refused (HTTP 200).
    #[tokio::test]
    async fn axis_the_simulator_refuses_what_the_sdk_would_not_send() {
        let (sim, _dir, _, _) = two().await;
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{}/getReceivedEdocList", sim.url()))
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["status"], "FAIL", "{v}");
        // Signed properly, then one header changed.
        let now = OffsetDateTime::now_utc();
        let secret = Secret::new("bi-mat-xa");
        let params = vec![
            ("systemid".to_owned(), format!("sys-{COMMUNE}")),
            ("timestamp".to_owned(), sign::timestamp(now)),
            ("docId".to_owned(), "a".to_owned()),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ];
        let mut headers = sign::sign(&params, &secret);
        for (n, v) in &mut headers {
            if n == "docId" {
                *v = "b".into();
            }
        }
        let mut req = http.post(format!("{}/getEdoc", sim.url()));
        for (n, v) in headers {
            req = req.header(n, v);
        }
        let v: Value = req
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("json");
        assert_eq!(v["status"], "FAIL");
        assert!(
            v["ErrorDesc"].as_str().is_some_and(|d| d.contains("docId")),
            "{v}"
        );
        // A file whose hash-file is another file's.
        let file = b"<edXML/>".to_vec();
        let params = vec![
            ("systemid".to_owned(), format!("sys-{COMMUNE}")),
            ("timestamp".to_owned(), sign::timestamp(now)),
            ("from".to_owned(), COMMUNE.to_owned()),
            ("to".to_owned(), format!("\"{PROVINCE}\"")),
            ("servicetype".to_owned(), "eDoc".to_owned()),
            ("messagetype".to_owned(), "edoc".to_owned()),
            ("hash-file".to_owned(), sign::hash_file(b"other")),
        ];
        let form = reqwest::multipart::Form::new().part(
            "file_doc",
            reqwest::multipart::Part::bytes(file).file_name("a.edxml"),
        );
        let mut all = params;
        all.push((
            "Content-Type".to_owned(),
            format!("multipart/form-data; boundary={}", form.boundary()),
        ));
        let mut req = http.post(format!("{}/sendEdoc", sim.url()));
        for (n, v) in sign::sign(&all, &secret) {
            if n != "Content-Type" {
                req = req.header(n, v);
            }
        }
        let v: Value = req
            .multipart(form)
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("json");
        assert_eq!(v["status"], "FAIL");
        assert!(
            v["ErrorDesc"]
                .as_str()
                .is_some_and(|d| d.contains("hash-file")),
            "{v}"
        );
        assert!(sim.docs().is_empty());
    }
}
