//! Test support for Lienthong's end-to-end tests (`tests/tests/`): the portal simulators and
//! the harness that runs the real `lienthong` binary (re-exported from
//! [`lienthong_simulators`], which the demo shares), a throwaway PostgreSQL database per test
//! ([`postgres`]) and a SoftHSM2 token ([`softhsm`]). The load generator and the exchange
//! benchmark are in `src/bin/`.

pub use lienthong_simulators::*;

pub mod postgres;
pub mod softhsm;

use serde_json::Value;

/// Whether `value` has every property `schema` requires, each of the JSON type it names (the
/// checks a center's own validator would make first; nested schemas are not followed): the
/// end-to-end tests hold the notices they receive to `GET /v1/schema/notices` with it.
///
/// Errors: what does not fit, in words.
pub fn conforms(value: &Value, schema: &Value) -> Result<(), String> {
    let object = value.as_object().ok_or("not an object")?;
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        if !object.contains_key(name) {
            return Err(format!("`{name}` is missing"));
        }
    }
    let props = schema["properties"].as_object().ok_or("no properties")?;
    for (name, v) in object {
        let Some(p) = props.get(name) else {
            return Err(format!("`{name}` is not in the schema"));
        };
        let types: Vec<&str> = match &p["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let kind = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
        if !fits {
            return Err(format!("`{name}` is {kind}, the schema says {types:?}"));
        }
    }
    Ok(())
}
