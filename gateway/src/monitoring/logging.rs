//! Logs: `tracing` events, human-readable text on a terminal and one JSON object per line
//! under systemd or in a container (`[log] format = "auto"`, the default), every line passed
//! through [`redact`] before it is written.
//!
//! Redaction is done on the written line rather than at each call site, so that what other
//! crates log (a connector's error text quoting a portal's answer, a driver's message) is covered
//! too. It masks:
//! - personal identity numbers (mã định danh cá nhân / CCCD, 12 digits; old CMND, 9 digits)
//!   standing alone, keeping their last three digits for support;
//! - the value after a secret-looking key (`password`, `secret`, `token`, `authorization`,
//!   `api_key`, `security_key`, `private_key`, and compounds such as `client_secret`), in
//!   `key=value`, `key: value` and JSON `"key":"value"` forms, and after `Bearer `/`Basic `
//!   — but not the words after a dotted configuration key in a message about it
//!   (`server.admin_token: must hold…`): values, not the sentences around a key's name;
//! - PEM private key blocks.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Sets up logging on stderr. `format` is `text`, `json` or `auto` (text on a terminal, JSON
/// otherwise); `LIENTHONG_LOG` wins over the configured `level`. A second call does nothing.
pub fn init(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIENTHONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let json = match format {
        "json" => true,
        "text" => false,
        _ => !io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_ansi(!json && io::stderr().is_terminal());
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Makes [`Redacting`] writers over stderr.
#[derive(Debug, Clone, Copy)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = Redacting<io::Stderr>;
    fn make_writer(&'a self) -> Self::Writer {
        Redacting(io::stderr())
    }
}

/// A writer that redacts what it is given before passing it on. The formatter writes each event
/// in one call, so a call is one whole line.
#[derive(Debug)]
pub struct Redacting<W>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redact(text).as_bytes())?,
            Err(_) => self
                .0
                .write_all(redact(&String::from_utf8_lossy(buf)).as_bytes())?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Key fragments whose values are secrets (matched case-insensitively at the end of a key).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "security_key",
    "securitykey",
    "private_key",
    "matkhau",
];

/// What replaces a secret.
const MASK: &str = "[redacted]";

/// `text` with personal identity numbers, secrets and private keys masked (see the module
/// documentation). Borrowed when there is nothing to mask.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    if out.contains("PRIVATE KEY-----") {
        out = Cow::Owned(mask_pem(&out));
    }
    if let Some(masked) = mask_secrets(&out) {
        out = Cow::Owned(masked);
    }
    if let Some(masked) = mask_identity_numbers(&out) {
        out = Cow::Owned(masked);
    }
    out
}

fn mask_pem(text: &str) -> String {
    const TAIL: &str = "PRIVATE KEY-----";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // The first TAIL ends a BEGIN line, the next one its END line.
    while let Some(header) = rest.find(TAIL) {
        let begin = rest[..header].rfind("-----BEGIN").unwrap_or(header);
        let after_header = header + TAIL.len();
        let end = rest[after_header..]
            .find(TAIL)
            .map_or(rest.len(), |e| after_header + e + TAIL.len());
        out.push_str(&rest[..begin]);
        out.push_str("[redacted private key]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Masks the value after every secret key; `None` when there is none.
fn mask_secrets(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    // (start, end) of each value to mask.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(found) = lower[from..].find(key) {
            let key_start = from + found;
            let key_end = key_start + key.len();
            from = key_end;
            // The key must end here: what follows is a separator, not more identifier.
            let mut i = key_end;
            if bytes.get(i) == Some(&b'"') {
                i += 1;
            }
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            if !matches!(bytes.get(i), Some(b'=' | b':')) {
                continue;
            }
            // `server.admin_token: …`, `callbacks.dvcqg.secret: …`: a configuration key named in
            // a message about it (check-config, warnings), followed by words, not by its value.
            // Only `=` assigns a value to a dotted key.
            if bytes[i] == b':' && names_a_config_key(bytes, key_start) {
                continue;
            }
            i += 1;
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            if let Some(span) = value_span(bytes, i) {
                spans.push(span);
            }
        }
    }
    for scheme in ["bearer ", "basic "] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(scheme) {
            let start = from + found + scheme.len();
            from = start;
            if let Some(span) = value_span(bytes, start) {
                spans.push(span);
            }
        }
    }
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Whether the identifier ending in the key found at `start` is a dotted configuration path
/// (`server.admin_token`), as messages about the configuration write keys.
fn names_a_config_key(bytes: &[u8], start: usize) -> bool {
    let mut i = start;
    while i > 0
        && (bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.' | b'-'))
    {
        if bytes[i - 1] == b'.' {
            return true;
        }
        i -= 1;
    }
    false
}

/// The value starting at `i`: a quoted string (quote kept, contents masked; an escaped quote
/// does not end it) or a bare word up to a delimiter. `None` when empty or already masked.
fn value_span(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    let quoted = matches!(bytes.get(i), Some(b'"' | b'\''));
    let (start, end) = if quoted {
        let q = bytes[i];
        let start = i + 1;
        let mut j = start;
        while j < bytes.len() && bytes[j] != q {
            j += if bytes[j] == b'\\' { 2 } else { 1 };
        }
        (start, j.min(bytes.len()))
    } else {
        let mut j = i;
        while j < bytes.len()
            && !matches!(
                bytes[j],
                b' ' | b',' | b'}' | b'&' | b';' | b'\n' | b'\r' | b'"' | b')'
            )
        {
            j += 1;
        }
        (i, j)
    };
    let value = &bytes[start..end];
    (!value.is_empty() && value != MASK.as_bytes()).then_some((start, end))
}

/// Masks standalone runs of 9 or 12 digits (keeping the last three); `None` when there is none.
/// A run touching a letter, digit, `-`, `.` or `_` is part of something else (a UUID, a dossier
/// code, a decimal) and is left alone.
fn mask_identity_numbers(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let part_of_word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    let mut out: Option<String> = None;
    let mut at = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let len = i - start;
        let before_ok = start == 0 || !part_of_word(bytes[start - 1]);
        // A full stop ends a sentence unless a digit follows (a decimal).
        let after_ok = i == bytes.len()
            || (bytes[i] == b'.' && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || !part_of_word(bytes[i]);
        if (len == 9 || len == 12) && before_ok && after_ok {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[at..start]);
            o.extend(std::iter::repeat_n('*', len - 3));
            o.push_str(&text[i - 3..i]);
            at = i;
        }
    }
    out.map(|mut o| {
        o.push_str(&text[at..]);
        o
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_numbers_are_masked_but_their_last_digits_kept() {
        assert_eq!(
            redact("applicant identity 001203004567 refused"),
            "applicant identity *********567 refused"
        );
        assert_eq!(
            redact(r#"{"number":"012345678"}"#),
            r#"{"number":"******678"}"#
        );
        assert_eq!(redact("CCCD:001203004567."), "CCCD:*********567.");
    }

    #[test]
    fn numbers_that_are_part_of_something_else_stay() {
        for text in [
            "message=0190a1b2-c3d4-7e5f-8a9b-123456789012",
            "dossier=000.00.14.H37-241125-0001",
            "at_ms=1764614400000",
            "seq=1234567890",
            "amount=1500000.123456789",
            "key_123456789012",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn secrets_after_their_keys_are_masked() {
        assert_eq!(
            redact("password=hunter2 user=a"),
            "password=[redacted] user=a"
        );
        assert_eq!(
            redact(r#"{"client_secret":"s3cr\"et","madonvi":"000"}"#),
            r#"{"client_secret":"[redacted]","madonvi":"000"}"#
        );
        assert_eq!(
            redact("Authorization: Bearer eyJhbGciOi.x.y done"),
            "Authorization: [redacted] [redacted] done"
        );
        assert_eq!(redact("sent Bearer abc.def"), "sent Bearer [redacted]");
        assert_eq!(
            redact("access_token = 'abc' ok"),
            "access_token = '[redacted]' ok"
        );
    }

    #[test]
    fn keys_that_only_begin_like_a_secret_stay() {
        for text in [
            "token_url=https://lgsp.example/token",
            "tokens=5",
            "password_file=/etc/lienthong/dvcqg.pass",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn private_keys_are_masked_whole() {
        let text = "key: -----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\nafter";
        assert_eq!(redact(text), "key: [redacted private key]\nafter");
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(redact(cert), cert);
    }

    #[test]
    fn nothing_to_mask_borrows() {
        assert!(matches!(redact("plain line"), Cow::Borrowed(_)));
    }

    #[test]
    fn words_about_a_configuration_key_are_not_its_value() {
        for text in [
            "no server.admin_token: admin API answers loopback clients only",
            "callbacks.dvcqg.secret: give secret or secret_file, not both",
            "destinations.emc.oauth.client_secret_file: /etc/lienthong/lgsp.secret does not exist",
            r#"{"message":"server.center_token_file: must hold 32 characters or more"}"#,
        ] {
            assert_eq!(redact(text), text);
        }
        // The values themselves still go.
        assert_eq!(
            redact("server.admin_token=abcdef0123456789 set"),
            "server.admin_token=[redacted] set"
        );
        assert_eq!(redact("password: hunter2"), "password: [redacted]");
        assert_eq!(
            redact(r#"{"admin_token": "abc"}"#),
            r#"{"admin_token": "[redacted]"}"#
        );
    }

    #[test]
    fn the_writer_redacts_each_line() {
        let mut w = Redacting(Vec::new());
        w.write_all(b"login password=abc for 001203004567\n")
            .expect("write");
        assert_eq!(
            String::from_utf8(w.0).expect("utf-8"),
            "login password=[redacted] for *********567\n"
        );
    }
}
