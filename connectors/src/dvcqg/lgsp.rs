//! The LGSP transport: OAuth2 client credentials (token cached until shortly before
//! `expires_in`), `Authorization: Bearer`, one URL per operation, JSON arrays as bodies.

use std::time::{Duration, Instant};

use lienthong_certs::Secret;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::classify::{Rules, Verdict, classify};
use crate::Outcome;
use crate::http::send;

pub(super) struct LgspClient {
    pub(super) client: reqwest::Client,
    pub(super) signer: Option<std::sync::Arc<crate::http::RequestSigner>>,
    pub(super) token_url: String,
    pub(super) client_id: String,
    pub(super) client_secret: Secret,
    pub(super) create_url: String,
    pub(super) update_url: String,
    pub(super) progress_url: String,
    pub(super) margin: Duration,
    pub(super) rules: Rules,
    /// The cached token and when to stop using it.
    pub(super) token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens without `expires_in` are used for this long.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

impl LgspClient {
    async fn fetch_token(&self) -> Result<(String, Instant), Outcome> {
        let req = self.client.post(&self.token_url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ]);
        let (status, headers, text) = send(req, self.signer.as_deref()).await?;
        if !status.is_success() {
            let o = crate::http::status_error(status, &headers, &text);
            return Err(Outcome::Retry {
                error: format!("token refused: {}", o.error().unwrap_or_default()),
                http_status: Some(status.as_u16()),
                retry_after: crate::http::retry_after(&headers),
                portal: None,
            });
        }
        let answer: TokenAnswer = serde_json::from_str(&text)
            .map_err(|e| Outcome::retry(format!("token answer unreadable: {e}")))?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let until = Instant::now() + lifetime.saturating_sub(self.margin);
        Ok((answer.access_token, until))
    }

    async fn token(&self) -> Result<String, Outcome> {
        let mut guard = self.token.lock().await;
        if let Some((t, until)) = guard.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let (t, until) = self.fetch_token().await?;
        *guard = Some((t.clone(), until));
        Ok(t)
    }

    async fn forget(&self, used: &str) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().is_some_and(|(t, _)| t == used) {
            *guard = None;
        }
    }

    async fn post(&self, url: &str, body: &Value) -> Verdict {
        for round in 0..2 {
            let token = match self.token().await {
                Ok(t) => t,
                Err(o) => return Verdict::Failed(o),
            };
            let req = self.client.post(url).bearer_auth(&token).json(body);
            let (status, headers, text) = match send(req, self.signer.as_deref()).await {
                Ok(r) => r,
                Err(o) => return Verdict::Failed(o),
            };
            match classify(&self.rules, status, &headers, &text) {
                Verdict::AuthExpired if round == 0 => self.forget(&token).await,
                Verdict::AuthExpired => {
                    return Verdict::Failed(Outcome::retry("LGSP refused a freshly issued token"));
                }
                v => return v,
            }
        }
        Verdict::Failed(Outcome::retry("unreachable: token loop ended"))
    }

    pub(super) async fn create(&self, hoso: &Value) -> Verdict {
        self.post(&self.create_url, &Value::Array(vec![hoso.clone()]))
            .await
    }

    pub(super) async fn update(&self, hoso: &Value) -> Verdict {
        self.post(&self.update_url, &Value::Array(vec![hoso.clone()]))
            .await
    }

    pub(super) async fn progress(&self, entries: Vec<Value>) -> Verdict {
        self.post(&self.progress_url, &Value::Array(entries)).await
    }
}
