//! EMC's answers → outcomes: `{"error_code": 0, "message"}` (assumed, as the national portals
//! answer; EMC publishes no specification). 0 or an empty 2xx is delivered, another code is
//! invalid data (dead, with EMC's message); HTTP errors and unreadable pages are classified by
//! [`crate::http::json_answer`].

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{Outcome, PortalAnswer};

/// Reads EMC's answer to a call.
pub(super) fn answer(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    let delivered = |portal| Outcome::Delivered {
        http_status: Some(status.as_u16()),
        portal,
    };
    if status.is_success() && body.trim().is_empty() {
        return delivered(None);
    }
    let json = match crate::http::json_answer(status, headers, body) {
        Ok(json) => json,
        Err(outcome) => return outcome,
    };
    let code = match json.get("error_code") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => "0".to_owned(),
    };
    let answer = PortalAnswer {
        reference: None,
        message: json
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        code,
    };
    if answer.code == "0" {
        delivered(Some(answer))
    } else {
        Outcome::Reject {
            error: format!("EMC refused the report: {} {}", answer.code, answer.message),
            http_status: Some(status.as_u16()),
            portal: Some(answer),
        }
    }
}
