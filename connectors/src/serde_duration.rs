//! Durations written as in the configuration contract: `100ms`, `30s`, `1h`, `72h`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes a duration string (`humantime` syntax).
///
/// Errors: the text is not a duration, with the text quoted.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Deserializes an optional duration string.
pub mod option {
    use super::*;

    /// Deserializes `Some(duration)`.
    ///
    /// Errors: as [`super::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::deserialize(d).map(Some)
    }
}

/// A duration that cannot be read, quoting the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{text}` ({reason}); write e.g. 500ms, 30s, 72h")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
    /// Why it is not a duration.
    pub reason: String,
}

/// Parses `100ms`, `30s`, `1h 30m`, `72h`.
///
/// Errors: [`DurationError`] quoting the text.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|e| DurationError {
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_contract_examples() {
        use std::time::Duration;
        assert_eq!(super::parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(super::parse("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(super::parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(super::parse("soon").is_err());
    }
}
