//! Pushes from national systems to the province (`POST /v1/callbacks/{source}`): what can be
//! wrong with one, shared by every source's parser. Each source answers in its own format; the
//! gateway maps a [`PushError`] to the HTTP status and the source module to the body.

use time::{OffsetDateTime, PrimitiveDateTime};

/// Why a push is refused (nothing of it is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not JSON, or a required field missing or unreadable (named): 400.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The shared key or the message's hash does not match: 401.
    #[error("not authenticated: {0}")]
    Forged(String),
    /// Older than the accepted window (a replay), or dated in the future: 401.
    #[error("stale: {0}")]
    Stale(String),
    /// The push is about a dossier this center does not have: 404.
    #[error("unknown dossier: {0}")]
    UnknownDossier(String),
    /// The push does not apply to the dossier it names (a decision about a dossier that was
    /// never delivered to the system that decides): 409.
    #[error("not applicable: {0}")]
    NotApplicable(String),
}

impl PushError {
    /// The HTTP status the pusher is answered with (the body is in its own format).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::Forged(_) | Self::Stale(_) => 401,
            Self::UnknownDossier(_) => 404,
            Self::NotApplicable(_) => 409,
        }
    }
}

/// Reads a `yyyyMMddHHmmss` local time (Vietnam, UTC+07:00), as the national systems write them.
///
/// Errors: not 14 digits of a valid date and time (names `field`).
pub fn portal_time(field: &str, text: &str) -> Result<OffsetDateTime, PushError> {
    let bad = || PushError::Malformed(format!("{field}: `{text}` is not yyyyMMddHHmmss"));
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    PrimitiveDateTime::parse(text, &fmt)
        .map(|t| t.assume_offset(lienthong_mappings::engine::VIETNAM_OFFSET))
        .map_err(|_| bad())
}

/// Refuses a push dated `at` when it is older than `max_age` or more than `max_skew` ahead of
/// `now`: a captured push replayed later is refused even after its dedupe record is purged.
///
/// Errors: [`PushError::Stale`] naming the field.
pub fn fresh(
    field: &str,
    at: OffsetDateTime,
    now: OffsetDateTime,
    max_age: time::Duration,
    max_skew: time::Duration,
) -> Result<(), PushError> {
    if at < now - max_age {
        return Err(PushError::Stale(format!(
            "{field} is older than {max_age}: a replay is refused"
        )));
    }
    if at > now + max_skew {
        return Err(PushError::Stale(format!("{field} is in the future")));
    }
    Ok(())
}

/// The text of a JSON field that may be a string or a number (amounts arrive both ways).
///
/// Errors: missing, or neither a string nor a number (names the field).
pub fn text_field(obj: &serde_json::Value, field: &str) -> Result<String, PushError> {
    match obj.get(field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(PushError::Malformed(format!(
            "{field}: must be a string or a number"
        ))),
        None => Err(PushError::Malformed(format!("{field}: missing"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_times_are_vietnam_local() {
        let t = portal_time("ThoiGianGD", "20261130091500").unwrap();
        assert_eq!(t.offset().whole_hours(), 7);
        assert_eq!(t.to_offset(time::UtcOffset::UTC).hour(), 2);
        for bad in [
            "2026113009150",
            "2026-11-30 09:15",
            "20261331091500",
            "2026113009150x",
        ] {
            let e = portal_time("ThoiGianGD", bad).unwrap_err();
            assert!(e.to_string().contains("ThoiGianGD"), "{e}");
        }
    }

    #[test]
    fn freshness_window() {
        let now = portal_time("t", "20261130120000").unwrap();
        let day = time::Duration::days(1);
        let skew = time::Duration::minutes(5);
        assert!(fresh("t", now - time::Duration::hours(23), now, day, skew).is_ok());
        assert!(matches!(
            fresh("t", now - time::Duration::hours(25), now, day, skew),
            Err(PushError::Stale(_))
        ));
        assert!(fresh("t", now + time::Duration::minutes(4), now, day, skew).is_ok());
        assert!(fresh("t", now + time::Duration::minutes(6), now, day, skew).is_err());
    }

    #[test]
    fn text_fields_take_strings_and_numbers() {
        let v = serde_json::json!({ "SoTien": 50000, "MaLoi": "00", "X": [1] });
        assert_eq!(text_field(&v, "SoTien").unwrap(), "50000");
        assert_eq!(text_field(&v, "MaLoi").unwrap(), "00");
        assert!(text_field(&v, "X").is_err());
        assert_eq!(
            text_field(&v, "Y").unwrap_err(),
            PushError::Malformed("Y: missing".into())
        );
    }
}
