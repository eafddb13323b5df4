//! The national document-exchange axis (trục liên thông văn bản quốc gia): peers that are not
//! reached directly exchange edXML through a mailbox service that moves documents by pull —
//! send, list received, fetch, then mark `done` or `fail`.
//!
//! The axis's interface is not published (format notes §6 only name the four operations), so
//! this is Lienthong's **provisional profile**, modelled on the operation names deployments use;
//! every call is an HTTPS POST to `{url}/{operation}` over the destination's mutual TLS (and
//! RFC 9421-signed when `sign_requests` is set), with the caller's agency code in the `from`
//! header:
//!
//! | operation | request | answer |
//! |---|---|---|
//! | `sendEdoc` | header `to` (agency code), the signed edXML (`application/xml`) | `{"status":"OK","docId":"…"}` |
//! | `getReceivedEdocList` | `{}` | `{"status":"OK","data":[{"docId":"…","from":"…"}]}` (documents not yet marked) |
//! | `getEdoc` | `{"docId":"…"}` | the edXML document (`application/xml`) |
//! | `updateStatus` | `{"docId":"…","status":"done"\|"fail","description":"…"}` | `{"status":"OK"}` |
//!
//! A refusal is `{"status":"FAIL","ErrorDesc":"…"}` with a 4xx status; 5xx, 408, 429 and
//! transport failures are temporary. Only the axis client lives here; the poller that drives it
//! (interval, backoff, verification, storing) is the gateway's.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::Outcome;
use crate::http::{RequestSigner, error_chain, is_retryable_status, retry_after};

/// A call to the axis failed.
#[derive(Debug, thiserror::Error)]
pub enum AxisError {
    /// No answer, a 5xx/408/429, or an unreadable answer: try again later.
    #[error("axis unavailable: {0}")]
    Unavailable(String),
    /// The axis refused the call (4xx or `"status":"FAIL"`).
    #[error("axis refused {operation}: {reason}")]
    Refused {
        /// The operation.
        operation: &'static str,
        /// The axis's reason.
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

/// One document waiting in the center's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AxisDocument {
    /// The axis's id of the document (not the edXML `DocumentId`).
    #[serde(rename = "docId")]
    pub doc_id: String,
    /// The sending agency, as the axis saw it (the document's own `From` is what is believed).
    #[serde(default)]
    pub from: String,
}

/// How a fetched document is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Received and stored (or already stored): the axis can forget it.
    Done,
    /// Refused for good, with the reason the sender will see.
    Fail(String),
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    status: String,
    #[serde(default, rename = "ErrorDesc")]
    error_desc: Option<String>,
    #[serde(default)]
    data: Option<Vec<AxisDocument>>,
    #[serde(default, rename = "docId")]
    doc_id: Option<String>,
}

/// Calls the axis as one agency.
pub struct AxisClient {
    base: String,
    organ_id: String,
    client: reqwest::Client,
    signer: Option<std::sync::Arc<RequestSigner>>,
}

impl std::fmt::Debug for AxisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AxisClient")
            .field("base", &self.base)
            .field("organ_id", &self.organ_id)
            .finish_non_exhaustive()
    }
}

impl AxisClient {
    /// A client of the axis at `base` (e.g. `https://truc.example.gov.vn/edoc`), calling as
    /// `organ_id`, with the TLS identity, trust and request signer of `security`.
    ///
    /// Errors: the HTTP client cannot be built.
    pub fn new(
        base: &str,
        organ_id: &str,
        connect_timeout: std::time::Duration,
        timeout: std::time::Duration,
        security: &crate::http::OutboundSecurity,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            organ_id: organ_id.to_owned(),
            client: crate::http::client(connect_timeout, timeout, security)?,
            signer: security.signer.clone(),
        })
    }

    /// Probes the axis: reaches its base URL with this center's client.
    pub async fn healthcheck(&self) -> crate::health::Health {
        crate::health::Health::reached_or(crate::health::reach(&self.client, &self.base).await)
    }

    fn url(&self, operation: &str) -> String {
        format!("{}/{operation}", self.base)
    }

    async fn call(
        &self,
        operation: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AxisError> {
        let (client, built) = req.header("from", &self.organ_id).build_split();
        let mut built = built.map_err(|e| AxisError::Unavailable(e.to_string()))?;
        if let Some(s) = &self.signer {
            built =
                crate::signing::sign_request(s, built)
                    .await
                    .map_err(|outcome| match outcome {
                        Outcome::Retry { error, .. } | Outcome::Local { error } => {
                            AxisError::Unavailable(error)
                        }
                        other => AxisError::Refused {
                            operation,
                            reason: other.error().unwrap_or_default().to_owned(),
                        },
                    })?;
        }
        crate::http::record(&built);
        let resp = client
            .execute(built)
            .await
            .map_err(|e| AxisError::Unavailable(format!("{operation}: {}", error_chain(&e))))?;
        crate::evidence::record_response(&resp);
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = crate::http::read_text(resp, crate::http::MAX_ANSWER_BYTES)
            .await
            .unwrap_or_else(|e| e.to_string());
        let reason = serde_json::from_str::<Answer>(&text)
            .ok()
            .and_then(|a| a.error_desc)
            .unwrap_or_else(|| text.chars().take(300).collect());
        if is_retryable_status(status) {
            Err(AxisError::Unavailable(format!(
                "{operation}: HTTP {status}: {reason}"
            )))
        } else {
            Err(AxisError::Refused {
                operation,
                reason: format!("HTTP {status}: {reason}"),
            })
        }
    }

    async fn json_call(
        &self,
        operation: &'static str,
        body: serde_json::Value,
    ) -> Result<Answer, AxisError> {
        let resp = self
            .call(operation, self.client.post(self.url(operation)).json(&body))
            .await?;
        let answer: Answer = read_answer(resp)
            .await
            .map_err(|e| AxisError::Unavailable(format!("{operation}: {e}")))?;
        if answer.status.eq_ignore_ascii_case("OK") {
            Ok(answer)
        } else {
            Err(AxisError::Refused {
                operation,
                reason: answer
                    .error_desc
                    .unwrap_or_else(|| format!("status {}", answer.status)),
            })
        }
    }

    /// The documents waiting for this agency.
    ///
    /// Errors: the axis is unavailable or refuses.
    pub async fn list(&self) -> Result<Vec<AxisDocument>, AxisError> {
        let answer = self.json_call("getReceivedEdocList", json!({})).await?;
        Ok(answer.data.unwrap_or_default())
    }

    /// One document, read up to `limit` bytes (a larger one is not read at all).
    ///
    /// Errors: unavailable, refused, larger than `limit`, or not UTF-8 (refused: it cannot be
    /// an XML document in the encoding edXML uses).
    pub async fn fetch(&self, doc_id: &str, limit: u64) -> Result<String, AxisError> {
        let operation = "getEdoc";
        let resp = self
            .call(
                operation,
                self.client
                    .post(self.url(operation))
                    .json(&json!({ "docId": doc_id })),
            )
            .await?;
        let bytes = crate::http::read_limited(resp, limit)
            .await
            .map_err(|e| match e {
                crate::http::ReadError::TooLarge { .. } => AxisError::TooLarge {
                    doc_id: doc_id.to_owned(),
                    limit,
                },
                crate::http::ReadError::Transport(t) => {
                    AxisError::Unavailable(format!("{operation}: {t}"))
                }
            })?;
        String::from_utf8(bytes).map_err(|e| AxisError::Refused {
            operation,
            reason: format!(
                "document {doc_id} is not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ),
        })
    }

    /// Marks a document `done` or `fail` (with the reason, at most 1000 characters).
    ///
    /// Errors: unavailable or refused (the document stays listed and is fetched again).
    pub async fn ack(&self, doc_id: &str, ack: &Ack) -> Result<(), AxisError> {
        let body = match ack {
            Ack::Done => json!({ "docId": doc_id, "status": "done" }),
            Ack::Fail(reason) => json!({
                "docId": doc_id,
                "status": "fail",
                "description": reason.chars().take(1000).collect::<String>(),
            }),
        };
        self.json_call("updateStatus", body).await.map(|_| ())
    }

    /// Sends a signed edXML document to `to` through the axis, classified as a delivery
    /// outcome: accepted by the axis → delivered (the axis's document id as the portal's
    /// answer), 4xx or `FAIL` → rejected, otherwise retry.
    pub async fn send(&self, to: &str, document: String) -> Outcome {
        let operation = "sendEdoc";
        let req = self
            .client
            .post(self.url(operation))
            .header("to", to)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .body(document);
        let resp = match self.call(operation, req).await {
            Ok(r) => r,
            Err(AxisError::Refused { reason, .. }) => return Outcome::reject(reason),
            Err(e) => return Outcome::retry(e.to_string()),
        };
        let status = resp.status();
        let after = retry_after(resp.headers());
        match read_answer(resp).await {
            Ok(a) if a.status.eq_ignore_ascii_case("OK") => Outcome::Delivered {
                http_status: Some(status.as_u16()),
                portal: Some(crate::PortalAnswer {
                    reference: None,
                    code: "OK".into(),
                    message: a.doc_id.unwrap_or_default(),
                }),
            },
            Ok(a) => Outcome::Reject {
                error: format!(
                    "the axis refused the document: {}",
                    a.error_desc.unwrap_or(a.status)
                ),
                http_status: Some(status.as_u16()),
                portal: None,
            },
            Err(e) => Outcome::Retry {
                error: format!("axis answer: {e}"),
                http_status: Some(StatusCode::OK.as_u16()),
                retry_after: after,
                portal: None,
            },
        }
    }
}

/// Reads the axis's JSON answer, at most [`crate::http::MAX_ANSWER_BYTES`].
async fn read_answer(resp: reqwest::Response) -> Result<Answer, String> {
    let body = crate::http::read_limited(resp, crate::http::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_tests::axis_sim::{AxisSim, Mark};
    use std::time::Duration;

    fn client(sim: &AxisSim, organ_id: &str) -> AxisClient {
        AxisClient::new(
            &format!("{}/", sim.url()),
            organ_id,
            Duration::from_secs(2),
            Duration::from_secs(5),
            &crate::http::OutboundSecurity::default(),
        )
        .expect("client")
    }

    #[tokio::test]
    async fn send_list_fetch_and_mark() {
        let sim = AxisSim::start().await.expect("axis");
        let province = client(&sim, "000.02.01.H37");
        let commune = client(&sim, "000.00.12.H37");
        let sent = province
            .send("000.00.12.H37", "<edXML>một</edXML>".into())
            .await;
        let Outcome::Delivered { portal, .. } = &sent else {
            panic!("{sent:?}")
        };
        let id = portal.as_ref().expect("doc id").message.clone();
        assert!(
            province.list().await.expect("list").is_empty(),
            "not the province's mail"
        );
        let listed = commune.list().await.expect("list");
        assert_eq!(
            listed,
            [AxisDocument {
                doc_id: id.clone(),
                from: "000.02.01.H37".into()
            }]
        );
        assert_eq!(
            commune.fetch(&id, 1024).await.expect("fetch"),
            "<edXML>một</edXML>"
        );
        commune.ack(&id, &Ack::Done).await.expect("done");
        assert!(commune.list().await.expect("list").is_empty());
        assert_eq!(sim.doc(&id).expect("doc").mark, Mark::Done);

        let other = sim.inject("x", "000.00.12.H37", "<edXML/>");
        let long = "lý do ".repeat(500);
        commune.ack(&other, &Ack::Fail(long)).await.expect("fail");
        let Mark::Failed(reason) = sim.doc(&other).expect("doc").mark else {
            panic!("not failed")
        };
        assert_eq!(reason.chars().count(), 1000, "the reason is bounded");
    }

    #[tokio::test]
    async fn large_unknown_and_unavailable_are_told_apart() {
        let sim = AxisSim::start().await.expect("axis");
        let commune = client(&sim, "000.00.12.H37");
        let big = sim.inject("x", "000.00.12.H37", &"a".repeat(5000));
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
        let sent = commune.send("000.02.01.H37", "<edXML/>".into()).await;
        assert_eq!(sent.label(), "retry", "{sent:?}");
        sim.set_down(false);
        let nowhere = AxisClient::new(
            "http://127.0.0.1:9",
            "000.00.12.H37",
            Duration::from_millis(500),
            Duration::from_secs(1),
            &crate::http::OutboundSecurity::default(),
        )
        .expect("client");
        assert!(matches!(
            nowhere.list().await,
            Err(AxisError::Unavailable(_))
        ));
        let refused = reqwest::Client::new()
            .post(format!("{}/sendEdoc", sim.url()))
            .send()
            .await
            .expect("post");
        assert_eq!(refused.status(), 400, "the simulator wants from and to");
    }
}
