//! The LGSP transport: OAuth2 client credentials (token cached until shortly before
//! `expires_in`), `Authorization: Bearer`, one URL per operation, JSON arrays as bodies.

use serde_json::Value;

use super::classify::{Rules, Verdict, classify};
use crate::Outcome;
use crate::oauth::TokenSource;

pub(super) struct LgspClient {
    pub(super) client: reqwest::Client,
    pub(super) tokens: TokenSource,
    pub(super) create_url: String,
    pub(super) update_url: String,
    pub(super) progress_url: String,
    pub(super) rules: Rules,
}

impl LgspClient {
    async fn post(&self, url: &str, body: &Value) -> Verdict {
        let answer = self
            .tokens
            .send_authorized(|| self.client.post(url).json(body))
            .await;
        let (status, headers, text) = match answer {
            Ok(r) => r,
            Err(o) => return Verdict::Failed(o),
        };
        match classify(&self.rules, status, &headers, &text) {
            Verdict::AuthExpired => {
                Verdict::Failed(Outcome::retry("LGSP refused a freshly issued token"))
            }
            v => v,
        }
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
