//! `kind = "webhook"`: the center's one-stop software (phần mềm một cửa), told about everything
//! that comes back — dossiers and statuses received from other centers, portal results — through
//! the outbox, so a center outage loses nothing.
//!
//! Each message is one `POST` of JSON to the configured URL:
//! `{"id", "event", "dossier_code", "data"}`, with the message id also in `Idempotency-Key` (a
//! resend after a lost answer carries the same id; the center deduplicates on it) and the
//! attempt number in `Lienthong-Attempt`. With `sign_requests`, the request carries an RFC 9421
//! signature and a `Content-Digest`. 2xx is delivered; 408, 429 and 5xx are retried (honouring
//! `Retry-After`); other answers are permanent failures kept for replay.

pub mod config;

use async_trait::async_trait;
use lienthong_mappings::RenderError;
use serde_json::{Value, json};

pub use self::config::WebhookConfig;
use crate::http::{OutboundSecurity, send, status_error};
use crate::{BuildError, Connector, MessageBody, OutboundMessage, Outcome};

/// The webhook connector.
pub struct WebhookConnector {
    url: String,
    client: reqwest::Client,
    via: crate::http::Via,
}

impl WebhookConnector {
    /// Builds the connector with the destination's TLS settings and request signer.
    ///
    /// Errors: configuration problems, or the HTTP client cannot be built.
    pub fn new(config: &WebhookConfig, security: &OutboundSecurity) -> Result<Self, BuildError> {
        Ok(Self {
            url: config.url.clone(),
            client: crate::http::client(config.connect_timeout, config.timeout, security)?,
            via: security.via(),
        })
    }
}

/// A notice as the center receives it (the same fields as [`payload`], with the id).
#[derive(serde::Serialize)]
struct NoticePayload<'a> {
    id: &'a str,
    event: &'a str,
    dossier_code: &'a str,
    data: &'a Value,
}

/// The JSON the center receives for a message (without its id).
fn payload(body: &MessageBody) -> Result<Value, RenderError> {
    let fail = |e: serde_json::Error| RenderError {
        mapping: "webhook".into(),
        target: "data".into(),
        input: None,
        message: e.to_string(),
    };
    Ok(match body {
        MessageBody::Notice(n) => json!({
            "event": n.event,
            "dossier_code": n.dossier_code,
            "data": n.data,
        }),
        MessageBody::Dossier { op, dossier } => json!({
            "event": "dossier",
            "dossier_code": dossier.code,
            "data": { "op": op, "dossier": serde_json::to_value(dossier).map_err(fail)? },
        }),
        MessageBody::Progress(p) => json!({
            "event": "status",
            "dossier_code": p.dossier_code,
            "data": serde_json::to_value(&p.event).map_err(fail)?,
        }),
    })
}

#[async_trait]
impl Connector for WebhookConnector {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn check(&self, body: &MessageBody) -> Result<(), RenderError> {
        payload(body).map(drop)
    }

    fn render(&self, body: &MessageBody) -> Result<Value, RenderError> {
        payload(body)
    }

    async fn healthcheck(&self) -> crate::health::Health {
        crate::health::Health::reached_or(
            crate::health::reach(&self.client, &self.url, &self.via).await,
        )
    }

    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome {
        let Some(msg) = batch.first() else {
            return Outcome::reject("empty batch");
        };
        let body = match &msg.body {
            // A notice is written straight from the message: it can carry a received
            // document's files, which should not be copied into another tree first.
            MessageBody::Notice(n) => serde_json::to_vec(&NoticePayload {
                id: &msg.id,
                event: &n.event,
                dossier_code: &n.dossier_code,
                data: &n.data,
            })
            .map_err(|e| e.to_string()),
            other => payload(other)
                .map_err(|e| e.to_string())
                .and_then(|mut value| {
                    value["id"] = Value::String(msg.id.clone());
                    serde_json::to_vec(&value).map_err(|e| e.to_string())
                }),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => return Outcome::reject(format!("cannot render: {e}")),
        };
        let req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", msg.id.as_str())
            .header("lienthong-attempt", msg.attempt.to_string())
            .body(body);
        let (status, headers, text) = match send(req, &self.via).await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        if status.is_success() {
            Outcome::Delivered {
                http_status: Some(status.as_u16()),
                portal: None,
            }
        } else {
            status_error(status, &headers, &text)
        }
    }
}

#[cfg(test)]
mod tests;

impl crate::kind::KindConfig for WebhookConfig {
    fn validate(&self) -> Vec<crate::ConfigProblem> {
        WebhookConfig::validate(self)
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        vec![("url", self.url.as_str())]
    }

    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        Ok(crate::kind::Built::connector(WebhookConnector::new(
            self,
            ctx.outbound,
        )?))
    }
}
