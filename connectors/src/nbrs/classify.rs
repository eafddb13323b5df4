//! NBRS's answers → outcomes. Every read answers `{"Status": "1" | "0", "Message", …}`
//! (`Status` as text or number): a submission gives its receipt `IN_JOURNAL_NO`, a status read
//! its `PROCESS_STATUS`, an enterprise read its `MainInformation`. HTTP errors and unreadable
//! pages are classified by [`crate::http::json_answer`].

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::http::json_answer;
use crate::{Outcome, PortalAnswer};

/// `Status` of an NBRS answer as text ("1" found / done, "0" not).
fn status_flag(v: &Value) -> Option<String> {
    match v.get("Status")? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field as text, `None` when absent or blank.
fn text(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn message(v: &Value) -> String {
    v.get("Message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The answer to a submission: taken with a receipt number (delivered, the receipt kept for the
/// follow-up), taken without one (retried: the gateway could not follow it), or refused (dead,
/// with NBRS's message).
pub(super) fn submission(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    let v = match json_answer(status, headers, body) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let answer = PortalAnswer {
        code: status_flag(&v).unwrap_or_default(),
        message: message(&v),
        reference: text(&v, "IN_JOURNAL_NO"),
    };
    match (answer.code.as_str(), &answer.reference) {
        ("1", Some(_)) => Outcome::Delivered {
            http_status: Some(status.as_u16()),
            portal: Some(answer),
        },
        ("1", None) => Outcome::Retry {
            error: "NBRS took the registration but gave no IN_JOURNAL_NO".into(),
            http_status: Some(status.as_u16()),
            retry_after: None,
            portal: Some(answer),
        },
        _ => Outcome::Reject {
            error: format!("NBRS refused the registration: {}", answer.message),
            http_status: Some(status.as_u16()),
            portal: Some(answer),
        },
    }
}

/// The answer to a status read of registration `in_journal_no`: its `PROCESS_STATUS` and the
/// whole answer (kept as the report).
///
/// Errors: the call's outcome; NBRS's `Status` "0" (no such registration: dead), an answer
/// without `PROCESS_STATUS` (retried).
pub(super) fn status(
    in_journal_no: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Result<(String, Value), Outcome> {
    let v = json_answer(status, headers, body)?;
    if status_flag(&v).as_deref() == Some("0") {
        return Err(Outcome::reject(format!(
            "NBRS has no registration {in_journal_no}: {}",
            message(&v)
        )));
    }
    let process_status = text(&v, "PROCESS_STATUS").ok_or_else(|| {
        Outcome::retry(format!(
            "NBRS answered without PROCESS_STATUS for {in_journal_no}"
        ))
    })?;
    Ok((process_status, v))
}

/// The answer to an enterprise read: the enterprise, or `None` when NBRS does not know it.
///
/// Errors: the call's outcome, or an answer that is neither (retried).
pub(super) fn enterprise(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Result<Option<Value>, Outcome> {
    let v = json_answer(status, headers, body)?;
    match status_flag(&v).as_deref() {
        Some("1") if v.get("MainInformation").is_some_and(Value::is_object) => Ok(Some(v)),
        Some("0") => Ok(None),
        _ => Err(Outcome::retry(format!(
            "unexpected enterprise answer: {}",
            v.to_string().chars().take(200).collect::<String>()
        ))),
    }
}
