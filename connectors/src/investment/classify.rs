//! The investment system's answers → outcomes (provisional profile): `{"MaLoi", "MoTa",
//! "SoTiepNhan"}`; `MaLoi` "0" took the registration (delivered, the receipt number kept in the
//! message), another code is invalid data (dead, with the system's message). HTTP errors and
//! unreadable pages are classified by [`crate::http::json_answer`].

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{Outcome, PortalAnswer};

/// Reads the answer to a registration.
pub(super) fn answer(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    let v = match crate::http::json_answer(status, headers, body) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let field = |f: &str| match v.get(f) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let receipt = field("SoTiepNhan");
    let answer = PortalAnswer {
        code: field("MaLoi"),
        message: if receipt.is_empty() {
            field("MoTa")
        } else {
            format!("{} (số tiếp nhận {receipt})", field("MoTa"))
        },
        reference: None,
    };
    if answer.code == "0" {
        Outcome::Delivered {
            http_status: Some(status.as_u16()),
            portal: Some(answer),
        }
    } else {
        Outcome::Reject {
            error: format!("the investment system refused: {}", answer.message),
            http_status: Some(status.as_u16()),
            portal: Some(answer),
        }
    }
}
