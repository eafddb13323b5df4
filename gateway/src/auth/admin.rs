//! Who is an administrator, and in which role ([`Role`]): the admin API, the console and the
//! administrator's view of readiness all ask [`authorize`], then [`allowed`].
//!
//! No address makes a caller an administrator: behind a reverse proxy on this host every client
//! is loopback, and a page re-pointed at 127.0.0.1 (DNS rebinding) runs in the operator's
//! browser. Only a lab (`server.allow_unauthenticated`, no token) lets everyone in.

use http::Method;
use lienthong_certs::Secret;

use super::access::{self, Role};
use super::refusal::Refusal;

/// The administrators' credentials the gateway holds.
#[derive(Clone, Copy)]
pub struct AdminCredentials<'a> {
    /// The admin token (`server.admin_token_file`).
    pub admin_token: Option<&'a Secret>,
    /// The viewer token (`server.viewer_token_file`).
    pub viewer_token: Option<&'a Secret>,
    /// `server.allow_unauthenticated`.
    pub allow_unauthenticated: bool,
}

/// The credentials a request presents to the admin API.
pub struct Presented<'a> {
    /// Its bearer token, if any.
    pub bearer: Option<&'a str>,
    /// A certificate accepted by a client-certificate rule written for admin paths.
    pub certified_admin: bool,
    /// The role of its console session cookie, if it has a live one.
    pub session: Option<Role>,
    /// Its method (a session cookie may not change state outside the console's forms).
    pub method: &'a Method,
    /// Its path.
    pub path: &'a str,
}

/// Whether a request is an administrator's, and in which role: a certificate accepted by a
/// client-certificate rule written for admin paths; the admin or viewer token as a bearer
/// token (compared in constant time); a console session (not for state changes outside the
/// console's forms, which carry a CSRF token).
///
/// Errors: [`Refusal::SessionCannotChangeState`], [`Refusal::AdminTokenRequired`].
pub fn authorize(held: AdminCredentials<'_>, p: &Presented<'_>) -> Result<Role, Refusal> {
    if p.certified_admin {
        return Ok(Role::Operator);
    }
    if let Some(role) = p
        .bearer
        .and_then(|b| Role::of_token(held.admin_token, held.viewer_token, b))
    {
        return Ok(role);
    }
    if let Some(role) = p.session {
        let safe = matches!(*p.method, Method::GET | Method::HEAD);
        if !safe && !p.path.starts_with("/console/") {
            return Err(Refusal::SessionCannotChangeState);
        }
        return Ok(role);
    }
    if held.allow_unauthenticated && held.admin_token.is_none() && held.viewer_token.is_none() {
        return Ok(Role::Operator);
    }
    Err(Refusal::AdminTokenRequired)
}

/// What an authorized role may do with this request: nothing under a foreign host name
/// (`foreign`: not one of `server.public_names`), and the viewer only the statistics screens.
///
/// Errors: [`Refusal::ForeignHost`], [`Refusal::ViewerReadsOnly`].
pub fn allowed(role: Role, foreign: bool, method: &Method, path: &str) -> Result<Role, Refusal> {
    if foreign {
        return Err(Refusal::ForeignHost);
    }
    match role {
        Role::Viewer if !access::viewer_may(method, path) => Err(Refusal::ViewerReadsOnly),
        role => Ok(role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented<'a>(
        bearer: Option<&'a str>,
        session: Option<Role>,
        method: &'a Method,
    ) -> Presented<'a> {
        Presented {
            bearer,
            certified_admin: false,
            session,
            method,
            path: "/v1/deliveries",
        }
    }

    /// Each way in, and each refusal: tokens by role, a session only for reading through the
    /// API, a lab only without tokens, the viewer only on the statistics screens, nobody under
    /// a foreign name.
    #[test]
    fn an_administrator_is_named_by_a_credential_never_by_default() {
        let admin = Secret::new("admin-token");
        let viewer = Secret::new("viewer-token");
        let held = AdminCredentials {
            admin_token: Some(&admin),
            viewer_token: Some(&viewer),
            allow_unauthenticated: true,
        };
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            authorize(held, &presented(Some("admin-token"), None, &get)),
            Ok(Role::Operator)
        );
        assert_eq!(
            authorize(held, &presented(Some("viewer-token"), None, &get)),
            Ok(Role::Viewer)
        );
        assert_eq!(
            authorize(held, &presented(Some("guess"), None, &get)),
            Err(Refusal::AdminTokenRequired),
            "a lab with tokens configured is not open"
        );
        assert_eq!(
            authorize(held, &presented(None, Some(Role::Operator), &get)),
            Ok(Role::Operator)
        );
        assert_eq!(
            authorize(held, &presented(None, Some(Role::Operator), &post)),
            Err(Refusal::SessionCannotChangeState)
        );
        let certified = Presented {
            certified_admin: true,
            ..presented(None, None, &post)
        };
        assert_eq!(authorize(held, &certified), Ok(Role::Operator));

        let lab = AdminCredentials {
            admin_token: None,
            viewer_token: None,
            allow_unauthenticated: true,
        };
        assert_eq!(
            authorize(lab, &presented(None, None, &post)),
            Ok(Role::Operator)
        );
        let closed = AdminCredentials {
            allow_unauthenticated: false,
            ..lab
        };
        assert_eq!(
            authorize(closed, &presented(None, None, &get)),
            Err(Refusal::AdminTokenRequired)
        );

        assert_eq!(
            allowed(Role::Operator, true, &get, "/v1/deliveries"),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(
            allowed(Role::Viewer, false, &post, "/v1/deliveries/1/replay"),
            Err(Refusal::ViewerReadsOnly)
        );
        assert_eq!(
            allowed(Role::Operator, false, &post, "/v1/deliveries/1/replay"),
            Ok(Role::Operator)
        );
    }
}
