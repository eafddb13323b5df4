//! Field-level validation errors that name the failing field (`applicant.identity.number: required`).

use std::fmt;

/// Longest dossier code (mã hồ sơ) accepted; portals observed use about 30 characters.
pub const MAX_CODE_LEN: usize = 100;

/// One failing field: its path in the input (`documents[1].sha256`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Dotted path with array indexes, relative to the document root.
    pub path: String,
    /// What is wrong, in a few words.
    pub message: String,
}

impl FieldError {
    /// Builds an error for `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Turns serde's error (with the path where it happened) into a field error; a missing or
    /// unknown field is reported at the field's own path, not at its parent's.
    pub(crate) fn from_serde(e: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let parent = e.path().to_string();
        let parent = if parent == "." { String::new() } else { parent };
        let inner = e.inner().to_string();
        // serde_json appends " at line N column M"; values (not text) carry no position.
        let msg = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        let join = |name: &str| {
            if parent.is_empty() {
                name.to_owned()
            } else {
                format!("{parent}.{name}")
            }
        };
        if let Some(name) = backticked_after(&msg, "missing field ") {
            return Self::new(join(name), "required");
        }
        if msg.starts_with("unknown field ") {
            // serde_path_to_error's path already ends with the unknown field.
            let path = if parent.is_empty() {
                "(root)".to_owned()
            } else {
                parent
            };
            return Self::new(path, "unknown field");
        }
        let path = if parent.is_empty() {
            "(root)".to_owned()
        } else {
            parent
        };
        Self::new(path, msg)
    }
}

fn backticked_after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split('`').next()
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every failing field of one input, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    /// The failing fields.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl From<Vec<FieldError>> for ValidationErrors {
    fn from(v: Vec<FieldError>) -> Self {
        Self(v)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects field errors; small checks shared by the model's `Validate` impls.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Records a problem at `path`.
    pub fn push(&mut self, path: &str, message: &str) {
        self.errors.push(FieldError::new(path, message));
    }

    /// The value must contain something other than whitespace.
    pub fn non_empty(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(path, "must not be empty");
        }
    }

    /// An identifier: non-empty, at most [`MAX_CODE_LEN`] characters, no whitespace or control
    /// characters (it ends up in URLs and portal keys).
    pub fn code(&mut self, path: &str, value: &str) {
        if value.is_empty() {
            self.push(path, "must not be empty");
        } else if value.chars().count() > MAX_CODE_LEN {
            self.push(path, "longer than 100 characters");
        } else if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '?' || c == '#')
        {
            self.push(
                path,
                "must not contain whitespace, control characters, '/', '?' or '#'",
            );
        }
    }

    /// An absolute http(s) URL.
    pub fn url(&mut self, path: &str, value: &str) {
        let ok = ["https://", "http://"]
            .iter()
            .any(|p| value.len() > p.len() && value.starts_with(p));
        if !ok {
            self.push(path, "must be an absolute http(s) URL");
        }
    }

    /// Lowercase or uppercase hex SHA-256 (64 digits).
    pub fn sha256(&mut self, path: &str, value: &str) {
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.push(path, "must be 64 hexadecimal digits");
        }
    }

    /// A plausible e-mail address (one `@`, something on both sides).
    pub fn email(&mut self, path: &str, value: &str) {
        match value.split_once('@') {
            Some((local, domain)) if !local.is_empty() && domain.contains('.') => {}
            _ => self.push(path, "must be an e-mail address"),
        }
    }

    /// Ends validation: `Err` when anything was recorded.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}
