//! `LIENTHONG_*` environment overrides, applied to the TOML table before it is deserialized.

use super::*;

/// Applies `LIENTHONG_A__B__C=value` as `a.b.c = value`. A value replacing a string stays a
/// string (so a numeric password is not turned into a number); otherwise it is read as a TOML
/// value when it parses as one, else as a string.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    errors: &mut Vec<ConfigError>,
) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_RESERVED.contains(&name.as_str())
            || ENV_RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
            || rest.is_empty()
        {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            errors.push(err(&name, "bad override name (use LIENTHONG_SECTION__KEY)"));
            continue;
        }
        if let Err(e) = set_path(table, &path, raw) {
            errors.push(err(&name, e));
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], raw: String) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty override name")?;
    if rest.is_empty() {
        let value = match table.get(first) {
            Some(toml::Value::String(_)) => toml::Value::String(raw),
            _ => toml_scalar(&raw).unwrap_or(toml::Value::String(raw)),
        };
        table.insert(first.clone(), value);
        return Ok(());
    }
    match table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(t) => set_path(t, rest, raw),
        _ => Err(format!("`{first}` is not a table")),
    }
}

fn toml_scalar(raw: &str) -> Option<toml::Value> {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
}
