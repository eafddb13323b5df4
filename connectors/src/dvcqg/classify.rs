//! Reading DVCQG answers: `{"error_code": 0|"0", "message": …}` with HTTP 200, or an HTTP error.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{Outcome, PortalAnswer, http};

/// What one call to the portal came to.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// `error_code` 0: the HTTP status and the parsed body (TraCuuHoSo's `result`).
    Ok(u16, Value),
    /// The portal says the dossier already exists (create → resend as update).
    AlreadyExists(PortalAnswer),
    /// The session or token is not (or no longer) valid.
    AuthExpired,
    /// Anything else: a classified failure.
    Failed(Outcome),
}

/// Rules read from the destination's configuration.
#[derive(Debug, Clone)]
pub(super) struct Rules {
    pub(super) exists_markers: Vec<String>,
    pub(super) retry_codes: Vec<String>,
}

/// The portal's `error_code` as text: numbers and strings both occur.
pub(super) fn error_code(body: &Value) -> Option<String> {
    match body.get("error_code")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.trim().to_owned()),
        _ => None,
    }
}

pub(super) fn classify(
    rules: &Rules,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Verdict {
    if status == StatusCode::UNAUTHORIZED {
        return Verdict::AuthExpired;
    }
    let json = match http::json_answer(status, headers, body) {
        Ok(json) => json,
        Err(outcome) => return Verdict::Failed(outcome),
    };
    let Some(code) = error_code(&json) else {
        return Verdict::Failed(Outcome::Retry {
            error: "answer without error_code".to_owned(),
            http_status: Some(status.as_u16()),
            retry_after: None,
            portal: None,
        });
    };
    let message = json
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let answer = PortalAnswer {
        reference: None,
        code: code.clone(),
        message: message.clone(),
    };
    let lower = message.to_lowercase();
    if rules
        .exists_markers
        .iter()
        .any(|m| lower.contains(&m.to_lowercase()))
    {
        return Verdict::AlreadyExists(answer);
    }
    if code == "0" {
        return Verdict::Ok(status.as_u16(), json);
    }
    if code == "401" {
        return Verdict::AuthExpired;
    }
    let error = format!("portal error {code}: {message}");
    if rules.retry_codes.contains(&code) {
        Verdict::Failed(Outcome::Retry {
            error,
            http_status: Some(status.as_u16()),
            retry_after: None,
            portal: Some(answer),
        })
    } else {
        Verdict::Failed(Outcome::Reject {
            error,
            http_status: Some(status.as_u16()),
            portal: Some(answer),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            exists_markers: vec!["đã tồn tại".to_owned()],
            retry_codes: vec!["-1".to_owned()],
        }
    }

    fn run(status: u16, body: &str) -> Verdict {
        classify(
            &rules(),
            StatusCode::from_u16(status).expect("status"),
            &HeaderMap::new(),
            body,
        )
    }

    #[test]
    fn success_in_both_spellings() {
        assert!(matches!(
            run(200, r#"{"error_code":0,"message":"OK"}"#),
            Verdict::Ok(..)
        ));
        assert!(matches!(
            run(200, r#"{"error_code":"0","message":"Thành công"}"#),
            Verdict::Ok(..)
        ));
    }

    #[test]
    fn already_exists_even_with_code_zero() {
        for body in [
            r#"{"error_code":"-3","message":"Hồ sơ đã tồn tại"}"#,
            r#"{"error_code":0,"message":"Mã hồ sơ ĐÃ TỒN TẠI trên hệ thống"}"#,
            r#"{"error_code":3,"message":"đã tồn tại"}"#,
        ] {
            assert!(
                matches!(run(200, body), Verdict::AlreadyExists(_)),
                "{body}"
            );
        }
    }

    #[test]
    fn invalid_data_is_rejected_with_the_portal_message() {
        let Verdict::Failed(Outcome::Reject {
            portal: Some(p), ..
        }) = run(200, r#"{"error_code":2,"message":"MaTTHC không hợp lệ"}"#)
        else {
            panic!("expected reject");
        };
        assert_eq!(p.code, "2");
        assert_eq!(p.message, "MaTTHC không hợp lệ");
    }

    #[test]
    fn configured_codes_retry() {
        assert!(matches!(
            run(200, r#"{"error_code":-1,"message":"Hệ thống bận"}"#),
            Verdict::Failed(Outcome::Retry { .. })
        ));
    }

    #[test]
    fn auth_and_garbage() {
        assert_eq!(run(401, ""), Verdict::AuthExpired);
        assert_eq!(
            run(200, r#"{"error_code":401,"message":"Phiên hết hạn"}"#),
            Verdict::AuthExpired
        );
        assert!(matches!(
            run(200, "<html>proxy</html>"),
            Verdict::Failed(Outcome::Retry { .. })
        ));
        assert!(matches!(
            run(503, "busy"),
            Verdict::Failed(Outcome::Retry { .. })
        ));
        assert!(matches!(
            run(400, "bad"),
            Verdict::Failed(Outcome::Reject { .. })
        ));
    }
}
