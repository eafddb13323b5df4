//! One section (or sub-table) of the file deserialized on its own, its problem reported with
//! its full key (`callbacks.dvcqg.secret`), so that one bad section does not hide the others'.

use serde::de::DeserializeOwned;

use super::{ConfigError, err};

/// `value` as a `T`, or `None` with the problem pushed to `errors` under `key` (and the path
/// inside it serde names).
pub(super) fn section<T: DeserializeOwned>(
    key: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let full = if path == "." || path.is_empty() {
                key.to_owned()
            } else {
                format!("{key}.{path}")
            };
            errors.push(err(full, e.inner().message().to_owned()));
            None
        }
    }
}
