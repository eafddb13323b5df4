//! The axis's request authentication, as its Java client SDK builds it (format notes,
//! `vdxp-axis.md`): every parameter is a header; each is sent again as `XroadVnpt-{name}`; the
//! JSON object of those copies is sent as `XroadVnpt-sign-header`, the names joined by `;` as
//! `XroadVnpt-sign-header-key`, and the lower-case hex HMAC-SHA256 of the sign-header's bytes
//! under the member system's secret as `XroadVnpt-hash-header`.
//!
//! Both sides of that exchange live here: [`sign`] builds the headers of a call, [`verify`]
//! checks a received call over the exact bytes of its sign-header (the order of its members is
//! the sender's, a Java `HashMap`'s in the SDK, so a receiver must not rebuild it). The
//! simulator verifies with it; so could an axis written in Rust.

use aws_lc_rs::hmac;
use lienthong_certs::Secret;
use time::{OffsetDateTime, UtcOffset};

/// `XroadVnpt-version`, as the SDK sends it.
pub const VERSION: &str = "3.0.201608";
/// The prefix of the copies of the signed headers.
pub const PREFIX: &str = "XroadVnpt-";
/// Vietnam's offset: the SDK stamps its local clock, and a Vietnamese axis runs on UTC+07:00.
const VIETNAM: i8 = 7;

/// Why a received call's authentication is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A header the scheme needs is missing or not text.
    #[error("missing header {0}")]
    Missing(String),
    /// `XroadVnpt-sign-header` is not a JSON object of strings.
    #[error("XroadVnpt-sign-header is not a JSON object of strings: {0}")]
    Malformed(String),
    /// The HMAC does not match (wrong secret, or the sign-header was changed).
    #[error("XroadVnpt-hash-header does not match the sign-header under this system's secret")]
    BadHash,
    /// A signed value differs from the header actually sent (or its copy).
    #[error("header {0} differs from its signed value")]
    Tampered(String),
    /// `timestamp` is not the SDK's pattern, or too far from the receiver's clock.
    #[error("timestamp {value:?}: {reason}")]
    Timestamp {
        /// The value received.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// An unknown `XroadVnpt-version`.
    #[error("XroadVnpt-version {0:?} is not {VERSION}")]
    Version(String),
}

/// The `timestamp` of a call made at `at`: the SDK's `ddMMyyyy'T'HHmmss+SSSS`, in Vietnamese
/// local time, the four digits after `+` being the milliseconds (not a zone).
pub fn timestamp(at: OffsetDateTime) -> String {
    let local = at.to_offset(UtcOffset::from_hms(VIETNAM, 0, 0).unwrap_or(UtcOffset::UTC));
    format!(
        "{:02}{:02}{:04}T{:02}{:02}{:02}+{:04}",
        local.day(),
        u8::from(local.month()),
        local.year(),
        local.hour(),
        local.minute(),
        local.second(),
        local.millisecond()
    )
}

/// Reads a `timestamp` back (Vietnamese local time).
///
/// Errors: not the SDK's pattern.
pub fn parse_timestamp(value: &str) -> Result<OffsetDateTime, SignError> {
    let bad = |reason: &str| SignError::Timestamp {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let b = value.as_bytes();
    if b.len() != 20 || b[8] != b'T' || b[15] != b'+' {
        return Err(bad("not ddMMyyyyTHHmmss+SSSS"));
    }
    let num = |from: usize, to: usize| -> Result<u32, SignError> {
        value[from..to]
            .parse::<u32>()
            .map_err(|_| bad("not ddMMyyyyTHHmmss+SSSS"))
    };
    let month = time::Month::try_from(u8::try_from(num(2, 4)?).unwrap_or(0))
        .map_err(|_| bad("no such month"))?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(4, 8)?).unwrap_or(0),
        month,
        u8::try_from(num(0, 2)?).unwrap_or(0),
    )
    .map_err(|_| bad("no such date"))?;
    let clock = time::Time::from_hms_milli(
        u8::try_from(num(9, 11)?).unwrap_or(99),
        u8::try_from(num(11, 13)?).unwrap_or(99),
        u8::try_from(num(13, 15)?).unwrap_or(99),
        u16::try_from(num(16, 20)?).unwrap_or(9999),
    )
    .map_err(|_| bad("no such time"))?;
    Ok(time::PrimitiveDateTime::new(date, clock)
        .assume_offset(UtcOffset::from_hms(VIETNAM, 0, 0).unwrap_or(UtcOffset::UTC)))
}

/// `hash-file` as the SDK writes it: the SHA-256 of the file, each byte as `%x` (no zero
/// padding, so `0x0a` is `a`).
pub fn hash_file(file: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, file)
        .as_ref()
        .iter()
        .map(|b| format!("{b:x}"))
        .collect()
}

/// Whether `received` is `file`'s `hash-file`, written as the SDK writes it or padded.
pub fn hash_file_matches(file: &[u8], received: &str) -> bool {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, file);
    let padded = hex::encode(digest.as_ref());
    let received = received.trim().to_ascii_lowercase();
    received == padded || received == hash_file(file)
}

fn mac(secret: &Secret, message: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    hex::encode(hmac::sign(&key, message.as_bytes()).as_ref())
}

/// The headers of one call: `params` (name, value) in order — `systemid` and `timestamp`
/// first, then the operation's parameters and `Content-Type` — each sent as itself and as its
/// `XroadVnpt-` copy, then the sign-header, its key list, its HMAC under `secret` and the
/// version. The sign-header is serialised here once and its bytes are what is hashed.
pub fn sign(params: &[(String, String)], secret: &Secret) -> Vec<(String, String)> {
    // serde_json keeps insertion order only with its `preserve_order` feature; build the text
    // in the parameters' own order instead (each name and value escaped as JSON strings), so
    // what is hashed is what was meant.
    let sign_header = format!(
        "{{{}}}",
        params
            .iter()
            .map(|(name, value)| format!(
                "{}:{}",
                serde_json::Value::String(format!("{PREFIX}{name}")),
                serde_json::Value::String(value.clone())
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let keys = params
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut out = Vec::with_capacity(params.len() * 2 + 4);
    for (name, value) in params {
        out.push((name.clone(), value.clone()));
        out.push((format!("{PREFIX}{name}"), value.clone()));
    }
    out.push((format!("{PREFIX}hash-header"), mac(secret, &sign_header)));
    out.push((format!("{PREFIX}sign-header"), sign_header));
    out.push((format!("{PREFIX}sign-header-key"), keys));
    out.push((format!("{PREFIX}version"), VERSION.to_owned()));
    out
}

/// What a verified call said: its signed parameters (lower-case names, as sent) and its
/// `systemid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `systemid`.
    pub system_id: String,
    /// When the caller says it called.
    pub at: OffsetDateTime,
    /// The signed parameters, in the sign-header's order, names without the prefix.
    pub params: Vec<(String, String)>,
}

impl Signed {
    /// A signed parameter (names compare case-insensitively, as HTTP's do).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Checks a received call: `header` reads a header of the request (`None` when absent);
/// `secret_of` gives the secret of a system id. The HMAC is computed over the exact bytes of the
/// received sign-header; every signed value must be the one sent, under its own name and its
/// `XroadVnpt-` copy; `timestamp` within `max_skew` of `now`.
///
/// Errors: [`SignError`].
pub fn verify<'h>(
    header: impl Fn(&str) -> Option<&'h str>,
    secret_of: impl Fn(&str) -> Option<Secret>,
    now: OffsetDateTime,
    max_skew: time::Duration,
) -> Result<Signed, SignError> {
    let need = |name: &str| header(name).ok_or_else(|| SignError::Missing(name.to_owned()));
    let version = need(&format!("{PREFIX}version"))?;
    if version != VERSION {
        return Err(SignError::Version(version.to_owned()));
    }
    let sign_header = need(&format!("{PREFIX}sign-header"))?;
    let hash = need(&format!("{PREFIX}hash-header"))?;
    let keys = need(&format!("{PREFIX}sign-header-key"))?;
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(sign_header).map_err(|e| SignError::Malformed(e.to_string()))?;
    let mut params = Vec::new();
    for name in keys.split(';').filter(|k| !k.is_empty()) {
        let signed = object
            .get(&format!("{PREFIX}{name}"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| SignError::Malformed(format!("no {PREFIX}{name}")))?;
        params.push((name.to_owned(), signed.to_owned()));
    }
    if params.len() != object.len() {
        return Err(SignError::Malformed(
            "XroadVnpt-sign-header-key does not name every member".into(),
        ));
    }
    let system_id = params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("systemid"))
        .map(|(_, v)| v.clone())
        .ok_or_else(|| SignError::Missing("systemid".into()))?;
    let secret = secret_of(&system_id).ok_or(SignError::BadHash)?;
    let expected = mac(&secret, sign_header);
    if !lienthong_certs::constant_time_eq(expected.as_bytes(), hash.trim().as_bytes()) {
        return Err(SignError::BadHash);
    }
    for (name, value) in &params {
        for sent_as in [name.clone(), format!("{PREFIX}{name}")] {
            if header(&sent_as) != Some(value.as_str()) {
                return Err(SignError::Tampered(sent_as));
            }
        }
    }
    let stamp = params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("timestamp"))
        .map(|(_, v)| v.clone())
        .ok_or_else(|| SignError::Missing("timestamp".into()))?;
    let at = parse_timestamp(&stamp)?;
    if (at - now).abs() > max_skew {
        return Err(SignError::Timestamp {
            value: stamp,
            reason: format!("more than {max_skew} from the receiver's clock"),
        });
    }
    Ok(Signed {
        system_id,
        at,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(at: OffsetDateTime) -> Vec<(String, String)> {
        vec![
            ("systemid".into(), "000.02.01.H37".into()),
            ("timestamp".into(), timestamp(at)),
            ("docId".into(), "8f2c".into()),
            ("Content-Type".into(), "application/json".into()),
        ]
    }

    fn headers<'a>(list: &'a [(String, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| {
            list.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn the_timestamp_is_the_sdks_pattern_in_vietnamese_time() {
        let at = time::macros::datetime!(2026-12-07 03:15:02.123 UTC);
        assert_eq!(timestamp(at), "07122026T101502+0123");
        assert_eq!(parse_timestamp("07122026T101502+0123").expect("parse"), at);
        for bad in [
            "2026-12-07T10:15:02",
            "07122026 101502+0123",
            "32122026T101502+0123",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_file_drops_the_zero_padding_of_each_byte_and_accepts_both() {
        // SHA-256("b") = 3e23e816 00 39594a…: the byte 0x00 is written "0", 0x0d "d".
        assert_eq!(
            hash_file(b"b"),
            "3e23e816039594a33894f6564e1b1348bbd7a088d42c4acb73eeaed59c09d"
        );
        assert!(hash_file_matches(b"b", &hash_file(b"b")));
        assert!(hash_file_matches(
            b"b",
            "3E23E8160039594A33894F6564E1B1348BBD7A0088D42C4ACB73EEAED59C009D"
        ));
        assert!(!hash_file_matches(b"a", &hash_file(b"b")));
    }

    #[test]
    fn a_signed_call_verifies_and_every_change_is_refused() {
        let secret = Secret::new("bi-mat-truc");
        let now = OffsetDateTime::now_utc();
        let sent = sign(&params(now), &secret);
        let secret_of = |id: &str| (id == "000.02.01.H37").then(|| secret.clone());
        let ok =
            verify(headers(&sent), secret_of, now, time::Duration::minutes(5)).expect("verifies");
        assert_eq!(ok.system_id, "000.02.01.H37");
        assert_eq!(ok.get("docid"), Some("8f2c"));
        // The HMAC is over the sign-header's bytes: the documented shape.
        let sign_header = &sent
            .iter()
            .find(|(n, _)| n == "XroadVnpt-sign-header")
            .expect("sign-header")
            .1;
        assert!(sign_header.starts_with("{\"XroadVnpt-systemid\":\"000.02.01.H37\","));
        let keys = &sent
            .iter()
            .find(|(n, _)| n == "XroadVnpt-sign-header-key")
            .expect("keys")
            .1;
        assert_eq!(keys, "systemid;timestamp;docId;Content-Type");

        // Wrong secret.
        let other = Secret::new("khac");
        assert_eq!(
            verify(
                headers(&sent),
                |_| Some(other.clone()),
                now,
                time::Duration::minutes(5)
            ),
            Err(SignError::BadHash)
        );
        // A header changed after signing (the value, or its copy).
        for target in ["docId", "XroadVnpt-docId"] {
            let mut changed = sent.clone();
            for (n, v) in &mut changed {
                if n == target {
                    *v = "khac".into();
                }
            }
            assert_eq!(
                verify(
                    headers(&changed),
                    secret_of,
                    now,
                    time::Duration::minutes(5)
                ),
                Err(SignError::Tampered(target.into())),
                "{target}"
            );
        }
        // The sign-header changed: the HMAC no longer matches.
        let mut forged = sent.clone();
        for (n, v) in &mut forged {
            if n == "XroadVnpt-sign-header" {
                *v = v.replace("8f2c", "9999");
            }
        }
        assert_eq!(
            verify(headers(&forged), secret_of, now, time::Duration::minutes(5)),
            Err(SignError::BadHash)
        );
        // Stale and future.
        for at in [
            now - time::Duration::hours(1),
            now + time::Duration::hours(1),
        ] {
            let sent = sign(&params(at), &secret);
            assert!(matches!(
                verify(headers(&sent), secret_of, now, time::Duration::minutes(5)),
                Err(SignError::Timestamp { .. })
            ));
        }
    }

    #[test]
    fn a_receiver_verifies_the_bytes_it_got_not_a_rebuilt_object() {
        // Another client orders the members otherwise (a Java HashMap): still verified.
        let secret = Secret::new("s");
        let now = OffsetDateTime::now_utc();
        let stamp = timestamp(now);
        let sign_header =
            format!("{{\"XroadVnpt-timestamp\":\"{stamp}\",\"XroadVnpt-systemid\":\"X\"}}");
        let sent = vec![
            ("systemid".to_owned(), "X".to_owned()),
            ("timestamp".to_owned(), stamp.clone()),
            ("XroadVnpt-systemid".to_owned(), "X".to_owned()),
            ("XroadVnpt-timestamp".to_owned(), stamp),
            ("XroadVnpt-sign-header".to_owned(), sign_header.clone()),
            (
                "XroadVnpt-sign-header-key".to_owned(),
                "timestamp;systemid".to_owned(),
            ),
            (
                "XroadVnpt-hash-header".to_owned(),
                mac(&secret, &sign_header),
            ),
            ("XroadVnpt-version".to_owned(), VERSION.to_owned()),
        ];
        let ok = verify(
            headers(&sent),
            |_| Some(secret.clone()),
            now,
            time::Duration::minutes(5),
        )
        .expect("verifies");
        assert_eq!(ok.params[0].0, "timestamp");
    }
}
