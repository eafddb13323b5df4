//! X-Road identifiers as PR-REST writes them: parts joined by `/`, each part UTF-8 and
//! percent-encoded on its own (a `/` inside a code becomes `%2F`; the separators never are).
//!
//! A configuration may write a part percent-encoded (`BAR%2FSERVICE`) or plain (`000.02.01.H37`);
//! it is decoded once here and encoded again, part by part, on the wire.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters is encoded.
const PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest identifier part accepted (X-Road's own codes are far shorter).
const MAX_PART: usize = 255;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not the number of parts the identifier has.
    #[error("`{value}` has {got} part(s); expected {expected}")]
    Parts {
        /// The identifier as given.
        value: String,
        /// Parts found.
        got: usize,
        /// What this identifier has.
        expected: &'static str,
    },
    /// A part is empty, too long, not UTF-8 once decoded, or holds a control character.
    #[error("`{value}`: part {index} {reason}")]
    Part {
        /// The identifier as given.
        value: String,
        /// Which part (from 1).
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Splits `value` into its decoded parts, checking their number.
fn parts(value: &str, counts: &[usize], expected: &'static str) -> Result<Vec<String>, IdError> {
    let raw: Vec<&str> = value.split('/').collect();
    if !counts.contains(&raw.len()) {
        return Err(IdError::Parts {
            value: value.to_owned(),
            got: raw.len(),
            expected,
        });
    }
    raw.iter()
        .enumerate()
        .map(|(i, p)| {
            let bad = |reason| IdError::Part {
                value: value.to_owned(),
                index: i + 1,
                reason,
            };
            let decoded = percent_decode_str(p)
                .decode_utf8()
                .map_err(|_| bad("is not UTF-8 once percent-decoded"))?;
            if decoded.is_empty() {
                return Err(bad("is empty"));
            }
            if decoded.len() > MAX_PART {
                return Err(bad("is too long"));
            }
            if decoded.chars().any(char::is_control) {
                return Err(bad("holds a control character"));
            }
            Ok(decoded.into_owned())
        })
        .collect()
}

/// The parts percent-encoded one by one and joined by `/`.
fn encode(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| utf8_percent_encode(p, PART).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A client (consumer) of X-Road: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, sent in `X-Road-Client`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId {
    parts: Vec<String>,
}

impl ClientId {
    /// Reads `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]` (parts plain or percent-encoded).
    ///
    /// Errors: not three or four parts, or a part that is empty, too long, not UTF-8 or holds a
    /// control character.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        parts(value, &[3, 4], "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]").map(|parts| Self { parts })
    }

    /// The wire form: each part percent-encoded, joined by `/`.
    pub fn encoded(&self) -> String {
        encode(&self.parts)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded())
    }
}

/// A service: `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`, the start of the request path.
///
/// PR-REST calls the subsystem optional, but a path may follow the service code, so a reader
/// cannot tell a four-part service from a five-part one; X-Road's Security Server reads five
/// parts, and so does this.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceId {
    parts: Vec<String>,
}

impl ServiceId {
    /// Reads `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE` (parts plain or percent-encoded).
    ///
    /// Errors: not five parts, or a bad part (see [`ClientId::parse`]).
    pub fn parse(value: &str) -> Result<Self, IdError> {
        parts(value, &[5], "INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE").map(|parts| Self { parts })
    }

    /// The wire form: each part percent-encoded, joined by `/`.
    pub fn encoded(&self) -> String {
        encode(&self.parts)
    }

    /// The service code (the last part), decoded.
    pub fn code(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_is_encoded_on_its_own() {
        let s = ServiceId::parse("VN/GOV/000.00.00.H37/NDXP/BAR%2FSERVICE").unwrap();
        assert_eq!(s.encoded(), "VN/GOV/000.00.00.H37/NDXP/BAR%2FSERVICE");
        assert_eq!(s.code(), "BAR/SERVICE");
        let c = ClientId::parse("VN/GOV/000.02.01.H37/Liên thông").unwrap();
        assert_eq!(c.encoded(), "VN/GOV/000.02.01.H37/Li%C3%AAn%20th%C3%B4ng");
        assert_eq!(
            ClientId::parse(&c.encoded()).unwrap(),
            c,
            "the wire form reads back"
        );
        let member = ClientId::parse("VN/GOV/000.02.01.H37").unwrap();
        assert_eq!(member.encoded(), "VN/GOV/000.02.01.H37");
    }

    #[test]
    fn malformed_identifiers_are_refused() {
        for (bad, why) in [
            ("VN/GOV", "part"),
            ("VN/GOV/M/S/X", "part"),
            ("VN//M", "empty"),
            ("VN/GOV/%FF", "UTF-8"),
            ("VN/GOV/A%0AB", "control"),
        ] {
            let e = ClientId::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(ServiceId::parse("VN/GOV/M/SVC").is_err(), "four parts");
        assert!(ServiceId::parse(&format!("VN/GOV/M/S/{}", "x".repeat(256))).is_err());
    }
}
