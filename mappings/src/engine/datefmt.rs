//! Date patterns as operators write them in mapping files (`yyyyMMddHHmmss`, `dd/MM/yyyy`,
//! `yyyy/MM/dd HH:mm:ss`), translated once at load time into a `time` format description.
//!
//! Only the translation of pattern letters is ours; parsing and formatting are the `time` crate's.

use time::format_description::OwnedFormatItem;
use time::{OffsetDateTime, UtcOffset};

/// Why a date pattern cannot be compiled, or a date cannot be written with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatePatternError {
    /// A quote without its closing quote.
    #[error("unbalanced quote in date pattern `{0}`")]
    UnbalancedQuote(String),
    /// A letter that is not a pattern piece Lienthong knows.
    #[error(
        "unsupported date pattern piece `{piece}` in `{pattern}` (use yyyy, yy, MM, dd, HH, mm, ss, SSS)"
    )]
    Unsupported {
        /// The piece, as written.
        piece: String,
        /// The whole pattern.
        pattern: String,
    },
    /// The `time` crate refuses the translated description (the reason).
    #[error("bad date pattern `{pattern}`: {reason}")]
    Invalid {
        /// The whole pattern.
        pattern: String,
        /// The `time` crate's reason.
        reason: String,
    },
    /// The instant cannot be written (years outside 0..=9999).
    #[error("cannot format date: {0}")]
    Unwritable(String),
}

/// A compiled date pattern.
#[derive(Debug, Clone)]
pub struct DatePattern {
    pattern: String,
    format: OwnedFormatItem,
}

impl DatePattern {
    /// Compiles a pattern. Letters: `yyyy`, `yy`, `MM`, `dd`, `HH`, `mm`, `ss`, `SSS`; text between
    /// single quotes is literal, and so are `/ - : . , T` and spaces.
    ///
    /// Errors: [`DatePatternError`]: any other letter or an unbalanced quote, with the offending
    /// piece named.
    pub fn parse(pattern: &str) -> Result<Self, DatePatternError> {
        let mut desc = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|&&x| x == c).count();
            match (c, run) {
                ('y', 4) => desc.push_str("[year]"),
                ('y', 2) => desc.push_str("[year repr:last_two]"),
                ('M', 2) => desc.push_str("[month]"),
                ('d', 2) => desc.push_str("[day]"),
                ('H', 2) => desc.push_str("[hour]"),
                ('m', 2) => desc.push_str("[minute]"),
                ('s', 2) => desc.push_str("[second]"),
                ('S', 3) => desc.push_str("[subsecond digits:3]"),
                ('\'', _) => {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&x| x == '\'')
                        .ok_or_else(|| DatePatternError::UnbalancedQuote(pattern.to_owned()))?;
                    for &lit in &chars[i + 1..i + 1 + end] {
                        push_literal(&mut desc, lit);
                    }
                    i += end + 2;
                    continue;
                }
                (c, _) if c.is_ascii_alphabetic() && c != 'T' => {
                    let piece: String = chars[i..i + run].iter().collect();
                    return Err(DatePatternError::Unsupported {
                        piece,
                        pattern: pattern.to_owned(),
                    });
                }
                (c, _) => {
                    for _ in 0..run {
                        push_literal(&mut desc, c);
                    }
                }
            }
            i += run;
        }
        let format = time::format_description::parse_owned::<2>(&desc).map_err(|e| {
            DatePatternError::Invalid {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            pattern: pattern.to_owned(),
            format,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Formats `at` in the given UTC offset.
    ///
    /// Errors: [`DatePatternError::Unwritable`], only if the instant cannot be represented
    /// (years outside 0..=9999).
    pub fn format(
        &self,
        at: OffsetDateTime,
        offset: UtcOffset,
    ) -> Result<String, DatePatternError> {
        at.to_offset(offset)
            .format(&self.format)
            .map_err(|e| DatePatternError::Unwritable(e.to_string()))
    }
}

fn push_literal(desc: &mut String, c: char) {
    match c {
        '[' => desc.push_str("[["),
        c => desc.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn dvcqg_pattern_in_utc_plus_7() {
        let p = DatePattern::parse("yyyyMMddHHmmss").expect("valid");
        let at = datetime!(2026-11-28 01:02:40 UTC);
        assert_eq!(p.format(at, offset!(+7)).expect("fmt"), "20261128080240");
    }

    #[test]
    fn edxml_and_nbrs_patterns() {
        let at = datetime!(2026-11-28 23:30:05 +07:00);
        let p = DatePattern::parse("yyyy/MM/dd HH:mm:ss").expect("valid");
        assert_eq!(
            p.format(at, offset!(+7)).expect("fmt"),
            "2026/11/28 23:30:05"
        );
        let p = DatePattern::parse("dd/MM/yyyy").expect("valid");
        assert_eq!(p.format(at, offset!(+7)).expect("fmt"), "28/11/2026");
        let p = DatePattern::parse("yyyy-MM-dd'T'HH:mm:ss.SSS").expect("valid");
        assert_eq!(
            p.format(at, offset!(+7)).expect("fmt"),
            "2026-11-28T23:30:05.000"
        );
    }

    #[test]
    fn day_boundary_moves_with_offset() {
        let p = DatePattern::parse("yyyyMMdd").expect("valid");
        let at = datetime!(2026-11-28 18:00 UTC);
        assert_eq!(p.format(at, offset!(+7)).expect("fmt"), "20261129");
    }

    #[test]
    fn unknown_letters_are_refused() {
        let err = DatePattern::parse("yyyyMMddhhmmss").expect_err("hh is not supported");
        assert!(
            matches!(&err, DatePatternError::Unsupported { piece, .. } if piece == "hh"),
            "{err}"
        );
        assert!(err.to_string().contains("`hh`"), "{err}");
        assert_eq!(
            DatePattern::parse("yyyy'x").expect_err("unbalanced"),
            DatePatternError::UnbalancedQuote("yyyy'x".into())
        );
        assert!(DatePattern::parse("yyy").is_err());
    }
}
