//! Health checks of a destination, for `lienthong check-config --probe` (as Vector's sinks each
//! have a healthcheck): can the endpoint be reached over TCP and TLS with the destination's own
//! client (its trust store and client certificate), and do its credentials authenticate?

use crate::Outcome;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The endpoint answered (TCP connected, TLS handshake with our trust store and identity
    /// done): `Ok` with what answered, or why not.
    pub reach: Result<String, String>,
    /// Authentication: `None` when the destination has no login or token step; `Some(Ok)` when
    /// the credentials were accepted.
    pub auth: Option<Result<String, String>>,
}

impl Health {
    /// Reached, with no authentication step.
    pub fn reached(detail: impl Into<String>) -> Self {
        Self {
            reach: Ok(detail.into()),
            auth: None,
        }
    }

    /// Reached or not, with no authentication step.
    pub fn reached_or(reach: Result<String, String>) -> Self {
        Self { reach, auth: None }
    }

    /// Whether everything probed worked.
    pub fn ok(&self) -> bool {
        self.reach.is_ok() && !matches!(self.auth, Some(Err(_)))
    }
}

/// `GET url` with `client` (no redirects followed): any HTTP answer means the endpoint was
/// reached through TCP and TLS. Through X-Road (`via`), the Security Server is what is reached:
/// a probe does not call the service.
pub async fn reach(
    client: &reqwest::Client,
    url: &str,
    via: &crate::http::Via,
) -> Result<String, String> {
    let (url, what) = match &via.xroad {
        Some(route) => (
            route.security_server(),
            format!(" (the Security Server for {})", route.service()),
        ),
        None => (url, String::new()),
    };
    match client.get(url).send().await {
        Ok(r) => Ok(format!("HTTP {} from {url}{what}", r.status().as_u16())),
        Err(e) => Err(crate::http::error_chain(&e)),
    }
}

/// The outcome of an authentication step as a probe result.
pub fn auth_result(step: &str, r: Result<String, Outcome>) -> Result<String, String> {
    match r {
        Ok(_) => Ok(format!("{step} accepted")),
        Err(o) => Err(o.error().unwrap_or("refused").to_owned()),
    }
}
