//! The session transport: `POST {base}{auth_path}` for a session token, then every service is a
//! `POST {base}{integration_path}` with `{session, madonvi, service, …}` and a `dstcode` header.
//! An expired session is renewed once per call.

use lienthong_certs::Secret;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::classify::{Rules, Verdict, classify, error_code};
use crate::http::send;
use crate::{Outcome, PortalAnswer};

pub(super) struct SessionClient {
    pub(super) client: reqwest::Client,
    pub(super) via: crate::http::Via,
    pub(super) auth_url: String,
    pub(super) service_url: String,
    pub(super) username: String,
    pub(super) password: Secret,
    pub(super) madonvi: String,
    pub(super) dstcode: Option<String>,
    pub(super) rules: Rules,
    /// The current session; one login at a time (the lock is held across the login call).
    pub(super) session: Mutex<Option<String>>,
}

impl SessionClient {
    /// Probes the portal: a login with the configured account (reaching it on the way).
    pub(super) async fn healthcheck(&self) -> crate::health::Health {
        let login = self.login().await;
        let reach = match &login {
            Ok(_) => Ok(format!("login endpoint {} answered", self.auth_url)),
            Err(o) if o.http_status().is_some() || o.portal().is_some() => {
                Ok(format!("login endpoint {} answered", self.auth_url))
            }
            Err(o) => Err(o.error().unwrap_or("unreachable").to_owned()),
        };
        let auth = reach
            .is_ok()
            .then(|| crate::health::auth_result("login", login));
        crate::health::Health { reach, auth }
    }

    async fn login(&self) -> Result<String, Outcome> {
        let req = self
            .client
            .post(&self.auth_url)
            .json(&json!({ "username": self.username, "password": self.password.expose() }));
        let (status, headers, text) = send(req, &self.via).await?;
        if !status.is_success() {
            let mut o = crate::http::status_error(status, &headers, &text);
            if let Outcome::Reject {
                error,
                http_status,
                portal,
            } = o
            {
                // A refused login is the gateway's configuration, not the dossier: keep trying
                // (the circuit breaker stops the storm) rather than killing the message.
                o = Outcome::Retry {
                    error: format!("login refused: {error}"),
                    http_status,
                    retry_after: None,
                    portal,
                };
            }
            return Err(o);
        }
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            Outcome::retry(format!(
                "login: unreadable answer: {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        match (
            error_code(&body).as_deref(),
            body.get("session").and_then(Value::as_str),
        ) {
            (Some("0"), Some(session)) if !session.is_empty() => Ok(session.to_owned()),
            (code, _) => Err(Outcome::Retry {
                error: format!(
                    "login refused: error_code {}: {}",
                    code.unwrap_or("?"),
                    body.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
                http_status: Some(status.as_u16()),
                retry_after: None,
                portal: Some(PortalAnswer {
                    reference: None,
                    code: code.unwrap_or_default().to_owned(),
                    message: body
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                }),
            }),
        }
    }

    async fn session(&self) -> Result<String, Outcome> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = self.login().await?;
        *guard = Some(s.clone());
        Ok(s)
    }

    async fn forget(&self, used: &str) {
        let mut guard = self.session.lock().await;
        if guard.as_deref() == Some(used) {
            *guard = None;
        }
    }

    /// Calls one service; renews the session once if the portal says it expired.
    pub(super) async fn call(&self, service: &str, params: Map<String, Value>) -> Verdict {
        for round in 0..2 {
            let session = match self.session().await {
                Ok(s) => s,
                Err(o) => return Verdict::Failed(o),
            };
            let mut body = Map::new();
            body.insert("session".into(), Value::String(session.clone()));
            body.insert("madonvi".into(), Value::String(self.madonvi.clone()));
            body.insert("service".into(), Value::String(service.to_owned()));
            body.extend(params.clone());
            let mut req = self.client.post(&self.service_url).json(&body);
            if let Some(d) = &self.dstcode {
                req = req.header("dstcode", d);
            }
            let (status, headers, text) = match send(req, &self.via).await {
                Ok(r) => r,
                Err(o) => return Verdict::Failed(o),
            };
            match classify(&self.rules, status, &headers, &text) {
                Verdict::AuthExpired if round == 0 => {
                    tracing::info!(service, "DVCQG session expired; logging in again");
                    self.forget(&session).await;
                }
                Verdict::AuthExpired => {
                    return Verdict::Failed(Outcome::Retry {
                        error: format!("{service}: session refused right after a fresh login"),
                        http_status: Some(status.as_u16()),
                        retry_after: None,
                        portal: None,
                    });
                }
                v => return v,
            }
        }
        Verdict::Failed(Outcome::retry("unreachable: session loop ended"))
    }

    /// `TraCuuHoSo`: whether the portal already has the dossier.
    pub(super) async fn exists(&self, code: &str) -> Result<bool, Outcome> {
        let mut p = Map::new();
        p.insert("mahoso".into(), Value::String(code.to_owned()));
        match self.call("TraCuuHoSo", p).await {
            Verdict::Ok(_, body) => Ok(match body.get("result") {
                Some(Value::Array(items)) => !items.is_empty(),
                Some(Value::Object(_)) => true,
                _ => false,
            }),
            Verdict::AlreadyExists(_) => Ok(true),
            Verdict::AuthExpired => Err(Outcome::retry("TraCuuHoSo: session refused")),
            Verdict::Failed(o) => Err(o),
        }
    }

    /// `DongBoHoSoMC` with `isUpdating` as the portal spells it.
    pub(super) async fn sync(&self, updating: bool, hoso: &Value) -> Verdict {
        let mut p = Map::new();
        p.insert(
            "isUpdating".into(),
            Value::String(if updating { "True" } else { "False" }.into()),
        );
        p.insert("data".into(), Value::Array(vec![hoso.clone()]));
        self.call("DongBoHoSoMC", p).await
    }

    /// `CapNhatTienDoHoSoMC` with up to 10 entries.
    pub(super) async fn progress(&self, entries: Vec<Value>) -> Verdict {
        let mut p = Map::new();
        p.insert("data".into(), Value::Array(entries));
        self.call("CapNhatTienDoHoSoMC", p).await
    }
}
