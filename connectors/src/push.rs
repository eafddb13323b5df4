//! Pushes from national systems to the province (`POST /v1/callbacks/{source}`): the
//! [`PushSource`] each pushing system's folder implements, and what can be wrong with a push,
//! shared by every source's parser.
//!
//! A source says how it is authenticated ([`Authentication`]), reads a push into a [`ReadPush`]
//! (what is kept, its dedupe key, the notice for the center, the decision it means), names the
//! notices it leads to, and answers in its own format. The gateway lists the sources once
//! (`gateway/src/config/callbacks.rs`, `PUSH_SOURCES`) and does the rest the same way for all:
//! the replay window, the store, the notices, the HTTP status of a [`PushError`].

use lienthong_certs::Secret;
use lienthong_certs::trust::{TrustStore, VerifiedSigner};
use lienthong_mappings::StatusEvent;
use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime};

/// How a source proves that a push is its own: what its `[callbacks.<source>]` table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// A secret shared with the province (`secret` or `secret_file`), compared in constant time.
    SharedKey,
    /// An XML-DSig signature by a certificate of a trust store (`trust`) carrying one of the
    /// allowed names (`signers`, required).
    Signature,
}

/// What a push is checked with, as configured for its source.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// The shared secret.
    SharedKey(&'a Secret),
    /// The trust store and the allowed signer names.
    Signature {
        /// Whose certificates are believed.
        trust: &'a TrustStore,
        /// The names the signer may carry (the whole DN, a CN or a SAN, each exact).
        signers: &'a [String],
    },
}

impl<'a> Credential<'a> {
    /// The shared secret.
    ///
    /// Errors: [`PushError::Forged`] when the source was given a trust store instead (the
    /// gateway's configuration check prevents it).
    pub fn shared_key(self) -> Result<&'a Secret, PushError> {
        match self {
            Self::SharedKey(k) => Ok(k),
            Self::Signature { .. } => Err(PushError::Forged(
                "this source is authenticated by a shared key and none is configured".into(),
            )),
        }
    }

    /// The trust store and allowed signers.
    ///
    /// Errors: [`PushError::Forged`] when the source was given a shared key instead.
    pub fn signature(self) -> Result<(&'a TrustStore, &'a [String]), PushError> {
        match self {
            Self::Signature { trust, signers } => Ok((trust, signers)),
            Self::SharedKey(_) => Err(PushError::Forged(
                "this source is authenticated by a signature and no trust store is configured"
                    .into(),
            )),
        }
    }
}

/// What a record with a known dedupe key means when it comes again with other content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeats {
    /// Its new state: kept and told again.
    NewState,
    /// A payment is never un-paid: a failure after a confirmed payment is kept and flagged for
    /// the operator, not told.
    NeverUnpay,
}

/// A push read, authenticated and understood by its source; what the gateway stores and tells.
#[derive(Debug)]
pub struct ReadPush {
    /// The event the center is told (`dvcqg.dossier`, `payment.confirmed`, …).
    pub event: &'static str,
    /// The same push twice is one push: its key among this source's records.
    pub dedupe_key: String,
    /// The dossier it is about.
    pub dossier_code: String,
    /// The field dating it and its date, checked against the replay window (none for a push
    /// that may come again long after, like a dossier).
    pub dated: Option<(String, OffsetDateTime)>,
    /// What is stored as the record (secrets removed; a signed document as received).
    pub kept: Value,
    /// The notice's `data` for the center (its type's schema is in [`PushSource::notices`]).
    pub notice: Value,
    /// The status event it means for the dossier, for a source that decides.
    pub decision: Option<StatusEvent>,
    /// For a signed push: the signer as its trust store validated it (for an OCSP check).
    pub signed_by: Option<VerifiedSigner>,
}

/// A system that pushes to the province: one per folder that receives pushes, listed once in
/// the gateway. Implementations are unit structs, shared by every request.
pub trait PushSource: Send + Sync {
    /// Its name in `/v1/callbacks/{source}`, `[callbacks.<source>]`, metrics and the store.
    fn name(&self) -> &'static str;

    /// How its pushes are authenticated.
    fn authentication(&self) -> Authentication;

    /// What a changed repeat means ([`Repeats::NewState`] unless the source says otherwise).
    fn repeats(&self) -> Repeats {
        Repeats::NewState
    }

    /// Reads, authenticates and checks a push (authentication first: a stranger learns
    /// nothing of what else is wrong with the body).
    ///
    /// Errors: [`PushError`]; nothing of a refused push is kept.
    fn read(&self, body: &[u8], credential: Credential<'_>) -> Result<ReadPush, PushError>;

    /// The events it tells the center, each with the JSON Schema of the notice's `data`.
    fn notices(&self) -> Vec<(&'static str, schemars::Schema)>;

    /// The pusher's answer when the push is taken (or was, for a repeat).
    fn accepted(&self) -> Value;

    /// The pusher's answer to a refused push.
    fn refused(&self, e: &PushError) -> Value;

    /// The pusher's answer when the province cannot take it now (it should retry).
    fn unavailable(&self) -> Value;
}

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
