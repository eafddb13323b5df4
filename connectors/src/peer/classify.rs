//! A peer's answers → outcomes: a direct exchange is answered with a signed edXML status
//! message; `02` (refused) is invalid data, any other status (or none) on a 2xx is delivered;
//! 408, 429 and 5xx are retried (honouring `Retry-After`), other statuses are refused. The
//! answer's `MessageStatus` is kept as the portal answer either way.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::EDXML_NS;
use crate::http::{is_retryable_status, retry_after};
use crate::{Outcome, PortalAnswer};

/// Reads the answer to a direct exchange.
pub(super) fn answer(status: StatusCode, headers: &HeaderMap, text: &str) -> Outcome {
    let after = retry_after(headers);
    let portal = status_of(text);
    if status.is_success() {
        match &portal {
            Some(p) if p.code == "02" => Outcome::Reject {
                error: format!("the peer refused the message: {}", p.message),
                http_status: Some(status.as_u16()),
                portal,
            },
            _ => Outcome::Delivered {
                http_status: Some(status.as_u16()),
                portal,
            },
        }
    } else if is_retryable_status(status) {
        Outcome::Retry {
            error: format!("peer answered HTTP {status}"),
            http_status: Some(status.as_u16()),
            retry_after: after,
            portal,
        }
    } else {
        let detail: String = text.chars().take(300).collect();
        Outcome::Reject {
            error: format!("peer answered HTTP {status}: {detail}"),
            http_status: Some(status.as_u16()),
            portal,
        }
    }
}

/// Reads `StatusCode` (and `Description`) of an edXML status answer, along the fixed path
/// `edXML/edXMLEnvelope/edXMLHeader/MessageStatus` (never a search, which would find a copy
/// hidden anywhere, e.g. inside the answer's `Signature`).
pub(super) fn status_of(answer: &str) -> Option<PortalAnswer> {
    let doc =
        lienthong_certs::xml::Document::parse(answer, lienthong_certs::xml::Limits::default())
            .ok()?;
    let root = doc.root();
    doc.element(root).filter(|e| e.is(EDXML_NS, "edXML"))?;
    let status = ["edXMLEnvelope", "edXMLHeader", "MessageStatus"]
        .into_iter()
        .try_fold(root, |node, local| doc.child(node, EDXML_NS, local))?;
    let text = |local: &str| {
        doc.child(status, EDXML_NS, local)
            .map(|n| doc.text(n).trim().to_string())
    };
    Some(PortalAnswer {
        reference: None,
        code: text("StatusCode")?,
        message: text("Description").unwrap_or_default(),
    })
}
