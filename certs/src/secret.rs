//! A credential that does not print itself, loaded from configuration or from a file.

use std::fmt;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// A secret string: a password, a client secret, a token.
///
/// `Debug` and `Display` print `[redacted]`; the value is reachable only through
/// [`Secret::expose`], so that logging a config struct cannot leak it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// Why a secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds nothing but whitespace.
    #[error("secret file {0} is empty")]
    Empty(PathBuf),
}

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret from a file (such as a systemd credential), without the trailing newline.
    ///
    /// Errors: the file cannot be read, or is empty.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            path: path.to_owned(),
            source,
        })?;
        let value = text.trim_end_matches(['\r', '\n']);
        if value.trim().is_empty() {
            return Err(SecretError::Empty(path.to_owned()));
        }
        Ok(Self(value.to_owned()))
    }

    /// The value itself; call it only where it is sent or compared.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented value in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Constant-time equality of two byte strings (the length may leak, the content does not).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2-mật-khẩu");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-mật-khẩu");
    }

    #[test]
    fn compares_exactly() {
        let s = Secret::new("token-123");
        assert!(s.matches("token-123"));
        assert!(!s.matches("token-124"));
        assert!(!s.matches("token-12"));
        assert!(!s.matches(""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn loads_from_file_without_newline() {
        let mut f = tempfile_like();
        writeln!(f.1, "s3cret").expect("write");
        let s = Secret::from_file(&f.0).expect("loads");
        assert_eq!(s.expose(), "s3cret");
        std::fs::write(&f.0, "\n").expect("write");
        assert!(matches!(
            Secret::from_file(&f.0),
            Err(SecretError::Empty(_))
        ));
        let missing = f.0.with_extension("missing");
        assert!(matches!(
            Secret::from_file(&missing),
            Err(SecretError::Read { .. })
        ));
        let _ = std::fs::remove_file(&f.0);
    }

    fn tempfile_like() -> (PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("lienthong-secret-{}", std::process::id()));
        let file = std::fs::File::create(&path).expect("create");
        (path, file)
    }
}
