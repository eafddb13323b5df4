//! Client-certificate rules (`[[server.client_auth]]`) and the X-Road client a Security Server
//! relays for: which presented certificate, and which relayed member, a route accepts.
//!
//! The certificate itself was verified against the client trust store during the TLS
//! handshake; here a route's rule decides whether one is required and which issuers and
//! subjects it accepts. Only a rule naming the member's Security Server makes `X-Road-Client` an
//! identity.

use http::HeaderMap;
use lienthong_certs::inspect::CertificateInfo;

use super::refusal::Refusal;
use crate::config::ClientAuthRule;

/// `X-Road-Client`.
pub const XROAD_CLIENT: &str = "x-road-client";

/// Applies a client-certificate rule to the presented certificate (`None`: none presented).
///
/// Errors: [`Refusal::CertificateRequired`], [`Refusal::IssuerNotAllowed`],
/// [`Refusal::SubjectNotAllowed`].
pub fn check_client(rule: &ClientAuthRule, peer: Option<&CertificateInfo>) -> Result<(), Refusal> {
    let prefix = || rule.path_prefix.clone();
    let Some(info) = peer else {
        return if rule.required {
            Err(Refusal::CertificateRequired { prefix: prefix() })
        } else {
            Ok(())
        };
    };
    if !rule.allowed_issuers.is_empty()
        && !rule.allowed_issuers.iter().any(|a| info.issuer_matches(a))
    {
        return Err(Refusal::IssuerNotAllowed {
            issuer: info.issuer.clone(),
            prefix: prefix(),
        });
    }
    if !rule.allowed_subjects.is_empty()
        && !rule
            .allowed_subjects
            .iter()
            .any(|a| info.subject_matches(a))
    {
        return Err(Refusal::SubjectNotAllowed {
            subject: info.subject.clone(),
            prefix: prefix(),
        });
    }
    Ok(())
}

/// The X-Road client of a request relayed by the Security Server `rule` names (its certificate
/// was accepted already): present, well-formed, and one of the rule's `xroad_clients`; in the
/// wire form.
///
/// Errors: [`Refusal::XRoadClient`] saying which.
pub fn relayed_client(rule: &ClientAuthRule, headers: &HeaderMap) -> Result<String, Refusal> {
    use lienthong_connectors::xroad::ClientId;
    let raw = headers
        .get(XROAD_CLIENT)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Refusal::XRoadClient(format!(
                "{} is relayed by the Security Server: X-Road-Client is required",
                rule.path_prefix
            ))
        })?;
    let client =
        ClientId::parse(raw).map_err(|e| Refusal::XRoadClient(format!("X-Road-Client: {e}")))?;
    let allowed = rule
        .xroad_clients
        .iter()
        .filter_map(|c| ClientId::parse(c).ok())
        .any(|c| c == client);
    if allowed {
        Ok(client.encoded())
    } else {
        Err(Refusal::XRoadClient(format!(
            "X-Road client {client} may not call {}",
            rule.path_prefix
        )))
    }
}
