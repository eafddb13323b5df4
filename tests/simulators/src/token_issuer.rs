//! An OAuth2 client-credentials token endpoint, as an integration platform (LGSP, the national
//! data-sharing platform) runs in front of the national systems; simulators mount it at
//! `POST /token` and check `Authorization: Bearer` with [`TokenIssuer::accepts`].

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The client the issuer knows.
pub const CLIENT_ID: &str = "lienthong-ninhbinh";
/// Its secret.
pub const CLIENT_SECRET: &str = "bi-mat-cua-tinh";

#[derive(Default)]
struct Inner {
    issued: HashSet<String>,
    requests: usize,
}

/// Issues tokens to [`CLIENT_ID`] / [`CLIENT_SECRET`] and remembers them until revoked.
#[derive(Clone, Default)]
pub struct TokenIssuer {
    inner: Arc<Mutex<Inner>>,
}

impl TokenIssuer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers a token request (form `grant_type`, `client_id`, `client_secret`): a new token,
    /// or 401 `invalid_client`.
    pub fn issue(&self, form: &BTreeMap<String, String>) -> Response {
        let mut inner = self.lock();
        inner.requests += 1;
        let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": "invalid_client" })),
            )
                .into_response();
        }
        let t = format!("tok-{}", uuid::Uuid::now_v7().simple());
        inner.issued.insert(t.clone());
        axum::Json(json!({ "access_token": t, "token_type": "Bearer", "expires_in": 3600 }))
            .into_response()
    }

    /// Whether the request carries a token issued and not revoked.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        self.lock().issued.contains(bearer)
    }

    /// Revokes every token, as a platform restart would.
    pub fn revoke_all(&self) {
        self.lock().issued.clear();
    }

    /// Token requests seen.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// The `[destinations.<n>.oauth]` table for a client of this issuer at `token_url`.
    pub fn config_toml(token_url: &str) -> String {
        format!(
            "token_url = \"{token_url}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n"
        )
    }
}
