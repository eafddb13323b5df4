//! What the caller of a request proved ([`Caller`]), the credentials a request carries in its
//! headers (a bearer token, the console's session cookie), and who may use the center's API
//! ([`center_may`]).

use http::{HeaderMap, Method, header};

use super::access::Role;
use super::refusal::Refusal;

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "lienthong_session";

/// What the caller of a request proved, put on the request by the HTTP guard for handlers that
/// answer differently to administrators (readiness detail) and for the console.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The center's one-stop system: a client certificate accepted by a rule, a verified
    /// signature, or the center's bearer token.
    pub center: bool,
    /// An administrator's role allowed on this request, or why not.
    pub admin: Result<Role, Refusal>,
    /// The SHA-256 of its console session id, when it has a live session.
    pub session: Option<String>,
    /// The X-Road member a request relayed by this member's Security Server comes from (its
    /// `X-Road-Client`, allowed by the route's rule), in the wire form.
    pub xroad_client: Option<String>,
}

impl Caller {
    /// Whether the caller is an operator (full administrator).
    pub fn is_admin(&self) -> bool {
        matches!(self.admin, Ok(Role::Operator))
    }
}

/// The bearer token of `Authorization`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The console's session id from its cookie, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(SESSION_COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
        })
        .filter(|v| !v.is_empty())
}

/// Whether a request may use the center's API: the center's credentials, or an administrator
/// reading, or a lab (`open`: `server.allow_unauthenticated` with nothing configured that
/// protects the route). No address is an identity.
///
/// Errors: [`Refusal::CenterCredentialsRequired`].
pub fn center_may(caller: &Caller, open: bool, method: &Method) -> Result<(), Refusal> {
    let reading = matches!(*method, Method::GET | Method::HEAD);
    if caller.center || open || (reading && caller.admin.is_ok()) {
        Ok(())
    } else {
        Err(Refusal::CenterCredentialsRequired)
    }
}
