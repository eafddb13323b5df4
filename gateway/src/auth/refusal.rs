//! Why a caller is refused. The `auth` module decides; the HTTP layer phrases each refusal as
//! an RFC 9457 problem (`http/problem.rs`, `impl From<&Refusal> for Problem`), so that the
//! rules carry no HTTP answer types and the answers stay the same for every route.

/// A refusal by an authentication or authorisation rule, with what the caller should know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A client-certificate rule requires a certificate and none was presented (403).
    #[error("{prefix} requires a TLS client certificate from an allowed issuer")]
    CertificateRequired {
        /// The rule's `path_prefix`.
        prefix: String,
    },
    /// The certificate's issuer is not one the rule allows (403).
    #[error("issuer {issuer} is not allowed on {prefix}")]
    IssuerNotAllowed {
        /// The presented issuer.
        issuer: String,
        /// The rule's `path_prefix`.
        prefix: String,
    },
    /// The certificate's subject is not one the rule allows (403).
    #[error("subject {subject} is not allowed on {prefix}")]
    SubjectNotAllowed {
        /// The presented subject.
        subject: String,
        /// The rule's `path_prefix`.
        prefix: String,
    },
    /// A request relayed by the X-Road Security Server without an allowed `X-Road-Client`
    /// (403).
    #[error("{0}")]
    XRoadClient(String),
    /// The center's API without the center's credentials (401).
    #[error(
        "the center's API needs the center's credentials: Authorization: Bearer <center token>, a client certificate or a signed request"
    )]
    CenterCredentialsRequired,
    /// The admin API without an administrator's credentials (401).
    #[error(
        "send Authorization: Bearer <admin token> (generated at the first start into the state directory unless server.admin_token_file names one: `lienthong tokens show admin`)"
    )]
    AdminTokenRequired,
    /// A console session cookie used to change state outside the console's forms (403): a
    /// cookie rides along with any cross-site request.
    #[error(
        "send Authorization: Bearer <admin token> (a cookie is sent with cross-site requests too)"
    )]
    SessionCannotChangeState,
    /// The viewer role outside the statistics screens (403).
    #[error("sign in with the admin token to do this")]
    ViewerReadsOnly,
    /// An administrator's credentials under a name the gateway is not reached by (421).
    #[error("administrators use a name of server.public_names")]
    ForeignHost,
}
