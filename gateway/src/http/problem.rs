//! RFC 9457 problem details (`application/problem+json`), the body of every error answer.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    extra: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with its status, a stable slug (becomes the `type` URI), a title and a detail.
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A problem whose cause is ours (the store, a bug): the client is told only that it
    /// happened and an error id; the cause is logged under that id, so an operator finds it
    /// from what the client reports, and nothing internal (SQL, paths, addresses) leaves.
    pub fn internal(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        cause: &dyn std::fmt::Display,
    ) -> Self {
        let id = hex::encode(rand::random::<[u8; 8]>());
        tracing::error!(error_id = id, %status, problem = slug, "{cause}");
        Self::new(
            status,
            slug,
            title,
            format!("the gateway logged the cause as error {id}"),
        )
        .with("error_id", id)
    }

    /// Adds a response header (`WWW-Authenticate`…).
    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The detail text (for logs).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 400: the body is not JSON.
    pub fn bad_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            "The body is not valid JSON",
            detail,
        )
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 503: the store is unavailable; nothing was stored. The cause is logged with an error
    /// id, which the problem carries instead of the cause.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        Self::internal(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "The store is unavailable; nothing was stored, try again",
            cause,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:lienthong:problem:{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(m) = &mut body {
            m.extend(self.extra);
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
/// A refusal of the `auth` rules as the problem answered: the same status, type and title for
/// it on every route.
impl From<&crate::auth::Refusal> for Problem {
    fn from(r: &crate::auth::Refusal) -> Self {
        use crate::auth::Refusal as R;
        let (status, slug, title) = match r {
            R::CertificateRequired { .. } => (
                StatusCode::FORBIDDEN,
                "client-certificate-required",
                "Client certificate required",
            ),
            R::IssuerNotAllowed { .. } => (
                StatusCode::FORBIDDEN,
                "client-certificate-not-allowed",
                "Client certificate issuer not allowed",
            ),
            R::SubjectNotAllowed { .. } => (
                StatusCode::FORBIDDEN,
                "client-certificate-not-allowed",
                "Client certificate subject not allowed",
            ),
            R::XRoadClient(_) => (
                StatusCode::FORBIDDEN,
                "xroad-client-not-allowed",
                "X-Road client not allowed",
            ),
            R::CenterCredentialsRequired => (
                StatusCode::UNAUTHORIZED,
                "authentication-required",
                "Authentication required",
            ),
            R::AdminTokenRequired => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Admin token required",
            ),
            R::SessionCannotChangeState => (
                StatusCode::FORBIDDEN,
                "csrf",
                "A console session cannot change state through the API",
            ),
            R::ViewerReadsOnly => (
                StatusCode::FORBIDDEN,
                "read-only",
                "The viewer role reads the statistics screens only",
            ),
            R::ForeignHost => (
                StatusCode::MISDIRECTED_REQUEST,
                "unknown-host",
                "This gateway is not reached by that name",
            ),
        };
        let problem = Self::new(status, slug, title, r.to_string());
        match r {
            R::CenterCredentialsRequired => {
                problem.with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"lienthong\"")
            }
            R::AdminTokenRequired => {
                problem.with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"lienthong-admin\"")
            }
            _ => problem,
        }
    }
}
