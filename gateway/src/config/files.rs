//! The files a configuration names, checked before anything else (tệp cấu hình trỏ tới): every
//! one that is missing or cannot be read is one problem, naming every key that uses it and how to
//! put it in place, whether or not the rest of the file is valid — so that one `check-config`
//! lists all there is to fix.
//!
//! Read on the raw TOML (after environment overrides), by key name: every `*_file` key is a
//! secret (a password, a token, a PIN, a shared key); `cert`, `key`, `client_cert`,
//! `client_key`, `certificate`, `public_key`, `anchors`, `intermediates` and `crls` are
//! certificates and keys; `module` is a PKCS#11 library; `mappings_dir` a directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ConfigError, err};

/// What a file key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Certificate,
    Library,
    Directory,
}

fn kind_of(key: &str) -> Option<Kind> {
    match key {
        k if k.ends_with("_file") => Some(Kind::Secret),
        "cert" | "key" | "client_cert" | "client_key" | "certificate" | "public_key"
        | "anchors" | "intermediates" | "crls" => Some(Kind::Certificate),
        "module" => Some(Kind::Library),
        "mappings_dir" => Some(Kind::Directory),
        _ => None,
    }
}

/// Every file `table` names, by path, with its kind and the keys naming it.
fn named(table: &toml::Table) -> BTreeMap<PathBuf, (Kind, Vec<String>)> {
    fn walk(
        v: &toml::Value,
        key: &str,
        path: &str,
        out: &mut BTreeMap<PathBuf, (Kind, Vec<String>)>,
    ) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, k, &p, out);
                }
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    match item {
                        toml::Value::String(_) => walk(item, key, &p, out),
                        _ => walk(item, "", &p, out),
                    }
                }
            }
            toml::Value::String(s) => {
                if let Some(kind) = kind_of(key) {
                    let entry = out
                        .entry(PathBuf::from(s))
                        .or_insert_with(|| (kind, Vec::new()));
                    entry.1.push(path.to_owned());
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(&toml::Value::Table(table.clone()), "", "", &mut out);
    out
}

/// The files `table` names that are missing or cannot be read: one problem per file, under the
/// first key naming it, with the others and how to put it in place.
pub(super) fn problems(table: &toml::Table) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for (path, (kind, keys)) in named(table) {
        let shown = path.display().to_string();
        let problem = match std::fs::metadata(&path) {
            Ok(m) if kind == Kind::Directory => {
                if m.is_dir() {
                    continue;
                }
                format!("{shown} is not a directory")
            }
            Ok(m) if m.is_file() => match std::fs::File::open(&path) {
                Ok(_) if kind == Kind::Secret && m.len() == 0 => {
                    format!("{shown} is empty: write the secret into it")
                }
                Ok(_) => continue,
                Err(e) => format!(
                    "{shown} cannot be read ({e}): the service's user needs read access{}",
                    if kind == Kind::Secret {
                        " (chown it to that user, mode 0600)"
                    } else {
                        ""
                    }
                ),
            },
            Ok(_) => format!("{shown} is not a file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match kind {
                Kind::Secret => format!(
                    "{shown} does not exist: create it with `install -m 600 /dev/null {shown}` and write the secret into it"
                ),
                Kind::Certificate => format!(
                    "{shown} does not exist: put the PEM file there (from the CA, or `lienthong certs` for a test)"
                ),
                Kind::Library => format!(
                    "{shown} does not exist: install the token vendor's PKCS#11 library (SoftHSM2: apt install softhsm2)"
                ),
                Kind::Directory => format!(
                    "{shown} does not exist: copy the kind's mapping files there (mappings/specs/<kind>), or remove the key to use the built-in ones"
                ),
            },
            Err(e) => format!("{shown} cannot be read ({e})"),
        };
        let also = if keys.len() > 1 {
            format!(" (also used by {})", keys[1..].join(", "))
        } else {
            String::new()
        };
        out.push(err(keys[0].clone(), format!("{problem}{also}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_missing_file_is_said_once_with_every_key_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().join("here.pem");
        std::fs::write(&here, "x").unwrap();
        let empty = dir.path().join("empty.pass");
        std::fs::write(&empty, "").unwrap();
        let text = format!(
            r#"
[destinations.emc.oauth]
client_secret_file = "/nonexistent/lgsp.secret"
[destinations.nbrs.oauth]
client_secret_file = "/nonexistent/lgsp.secret"
[signing]
cert = "{}"
key_pkcs11 = {{ module = "/nonexistent/lib.so", pin_file = "/nonexistent/pin" }}
[trust.peers]
anchors = ["{}", "/nonexistent/root.pem"]
[destinations.dvcqg]
password_file = "{}"
"#,
            here.display(),
            here.display(),
            empty.display()
        );
        let table: toml::Table = toml::from_str(&text).unwrap();
        let found: Vec<String> = problems(&table).iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("destinations.dvcqg.password_file:")
                    && p.contains("is empty: write the secret into it")),
            "{found:#?}"
        );
        let lgsp = found
            .iter()
            .find(|p| p.contains("lgsp.secret"))
            .expect("the shared secret");
        assert!(
            lgsp.starts_with("destinations.emc.oauth.client_secret_file:")
                && lgsp.contains("also used by destinations.nbrs.oauth.client_secret_file")
                && lgsp.contains("install -m 600 /dev/null /nonexistent/lgsp.secret"),
            "{lgsp}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("trust.peers.anchors[1]:")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("signing.key_pkcs11.module:"))
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("signing.key_pkcs11.pin_file:"))
        );
    }
}
