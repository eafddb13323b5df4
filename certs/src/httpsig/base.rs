//! Component values and the signature base (RFC 9421 §2).

use http::HeaderMap;
use sfv::{BareItem, Item};

use super::HttpSigError;

/// The parts of an HTTP message a signature can cover. For a request set `method` and
/// `target_uri` (absolute: `https://host/path?query`); for a response set `status`.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Request method.
    pub method: Option<&'a str>,
    /// Absolute target URI of the request.
    pub target_uri: Option<&'a str>,
    /// Response status.
    pub status: Option<u16>,
    /// Header fields.
    pub headers: &'a HeaderMap,
}

impl<'a> Message<'a> {
    /// A request.
    pub fn request(method: &'a str, target_uri: &'a str, headers: &'a HeaderMap) -> Self {
        Self {
            method: Some(method),
            target_uri: Some(target_uri),
            status: None,
            headers,
        }
    }

    /// A response.
    pub fn response(status: u16, headers: &'a HeaderMap) -> Self {
        Self {
            method: None,
            target_uri: None,
            status: Some(status),
            headers,
        }
    }
}

/// A component identifier: a derived component (`@…`) or a header field name, with the `name`
/// parameter for `@query-param`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentId {
    /// Lower-case component name.
    pub name: String,
    /// `name` parameter (only for `@query-param`).
    pub param_name: Option<String>,
}

impl ComponentId {
    /// A component by name, e.g. `@method` or `content-digest`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_ascii_lowercase(),
            param_name: None,
        }
    }

    /// `@query-param;name="…"`.
    pub fn query_param(name: &str) -> Self {
        Self {
            name: "@query-param".into(),
            param_name: Some(name.to_string()),
        }
    }

    pub(crate) fn to_item(&self) -> Result<Item, HttpSigError> {
        let s = sfv::String::from_string(self.name.clone()).map_err(super::sf_pair_err)?;
        let mut item = Item::new(BareItem::String(s));
        if let Some(n) = &self.param_name {
            let key = sfv::Key::from_string("name".into()).map_err(super::sf_pair_err)?;
            let v = sfv::String::from_string(n.clone()).map_err(super::sf_pair_err)?;
            item.params.insert(key, BareItem::String(v));
        }
        Ok(item)
    }

    pub(crate) fn from_item(item: &Item) -> Result<Self, HttpSigError> {
        let BareItem::String(name) = &item.bare_item else {
            return Err(HttpSigError::Malformed(
                "component identifiers must be strings".into(),
            ));
        };
        let name = name.as_str();
        if name != name.to_ascii_lowercase() {
            return Err(HttpSigError::Malformed(format!(
                "component {name} is not lower case"
            )));
        }
        let mut id = Self::new(name);
        for (k, v) in &item.params {
            match (k.as_str(), v, name) {
                ("name", BareItem::String(s), "@query-param") => {
                    id.param_name = Some(s.as_str().to_string());
                }
                (k, _, _) => {
                    return Err(HttpSigError::Unsupported(format!(
                        "component parameter {k} on {name}"
                    )));
                }
            }
        }
        if id.name == "@query-param" && id.param_name.is_none() {
            return Err(HttpSigError::Malformed("@query-param without name".into()));
        }
        Ok(id)
    }

    /// The serialized identifier as it appears in the base, e.g. `"@query-param";name="Pet"`.
    pub fn serialize(&self) -> Result<String, HttpSigError> {
        let mut ser = sfv::ListSerializer::new();
        ser.members(&[sfv::ListEntry::Item(self.to_item()?)]);
        ser.finish()
            .ok_or_else(|| HttpSigError::Malformed("empty".into()))
    }
}

/// The signature base: one line per component, then `"@signature-params": …`, no trailing LF.
pub fn signature_base(
    message: &Message<'_>,
    components: &[ComponentId],
    serialized_params: &str,
) -> Result<String, HttpSigError> {
    let mut base = String::with_capacity(512);
    let mut seen: Vec<String> = Vec::new();
    for c in components {
        let id = c.serialize()?;
        if seen.contains(&id) {
            return Err(HttpSigError::Malformed(format!("{id} covered twice")));
        }
        let value = component_value(message, c)?;
        if value.contains('\n') || value.contains('\r') {
            return Err(HttpSigError::Malformed(format!(
                "{id} contains a line break"
            )));
        }
        base.push_str(&id);
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
        seen.push(id);
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(serialized_params);
    Ok(base)
}

fn component_value(message: &Message<'_>, c: &ComponentId) -> Result<String, HttpSigError> {
    let missing = || HttpSigError::MissingComponent(c.name.clone());
    let uri = || -> Result<http::Uri, HttpSigError> {
        let raw = message.target_uri.ok_or_else(missing)?;
        raw.parse::<http::Uri>()
            .map_err(|e| HttpSigError::Malformed(format!("target URI: {e}")))
    };
    Ok(match c.name.as_str() {
        "@method" => message.method.ok_or_else(missing)?.to_string(),
        "@target-uri" => message.target_uri.ok_or_else(missing)?.to_string(),
        "@authority" => {
            let u = uri()?;
            let scheme = u.scheme_str().unwrap_or("").to_ascii_lowercase();
            let auth = u.authority().ok_or_else(missing)?;
            let host = auth.host().to_ascii_lowercase();
            match (auth.port_u16(), scheme.as_str()) {
                (Some(443), "https") | (Some(80), "http") | (None, _) => host,
                (Some(p), _) => format!("{host}:{p}"),
            }
        }
        "@scheme" => uri()?
            .scheme_str()
            .ok_or_else(missing)?
            .to_ascii_lowercase(),
        "@request-target" => {
            let u = uri()?;
            u.path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into())
        }
        "@path" => {
            let u = uri()?;
            let p = u.path();
            if p.is_empty() {
                "/".into()
            } else {
                p.to_string()
            }
        }
        "@query" => format!("?{}", uri()?.query().unwrap_or("")),
        "@query-param" => {
            let u = uri()?;
            let wanted = c.param_name.as_deref().ok_or_else(missing)?;
            let query = u.query().unwrap_or("");
            let mut values = query.split('&').filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == wanted).then_some(v)
            });
            match (values.next(), values.next()) {
                (Some(v), None) => v.to_string(),
                (None, _) => return Err(missing()),
                _ => {
                    return Err(HttpSigError::Unsupported(format!(
                        "query parameter {wanted} appears more than once"
                    )));
                }
            }
        }
        "@status" => message.status.ok_or_else(missing)?.to_string(),
        name if name.starts_with('@') => {
            return Err(HttpSigError::Unsupported(format!(
                "derived component {name}"
            )));
        }
        name => {
            let mut values = Vec::new();
            for v in message.headers.get_all(name) {
                let s = v
                    .to_str()
                    .map_err(|_| HttpSigError::Malformed(format!("{name} is not ASCII")))?;
                values.push(s.trim().to_string());
            }
            if values.is_empty() {
                return Err(missing());
            }
            values.join(", ")
        }
    })
}
