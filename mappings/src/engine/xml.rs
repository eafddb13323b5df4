//! XML output of a mapping (`[xml]` in a mapping file).
//!
//! The mapping renders to JSON as usual; this module writes that result as XML in the order of
//! the mapping's fields (not the JSON object's key order): a field becomes an element named by
//! its target, a target starting with `@` becomes an attribute of the enclosing element, nested
//! `fields` become child elements, and a list becomes the element repeated once per item.
//! Element names without a prefix get the mapping's `prefix`; the root element declares the
//! mapping's namespaces. Text and attribute values are escaped as canonical XML escapes them, so
//! the output is ready to be signed.

use serde_json::{Map, Value};

use super::{Field, Mapping, RenderError};

/// How a mapping's result is written as XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlOutput {
    /// Qualified name of the root element, e.g. `edXML:edXMLEnvelope`.
    pub root: String,
    /// Namespace declarations on the root: (prefix, URI); prefix "" is the default namespace.
    pub namespaces: Vec<(String, String)>,
    /// Prefix given to element names that have none.
    pub prefix: Option<String>,
}

/// Whether `name` can be an XML element or attribute name (optionally `prefix:local`).
pub(super) fn valid_name(name: &str) -> bool {
    let ok = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match name.split_once(':') {
        Some((p, l)) => ok(p) && ok(l),
        None => ok(name),
    }
}

/// Writes `value` (the JSON result of `mapping`) as an XML document.
pub(super) fn write(
    mapping: &Mapping,
    xml: &XmlOutput,
    value: &Value,
) -> Result<String, RenderError> {
    let Value::Object(obj) = value else {
        return Err(RenderError {
            mapping: mapping.name.clone(),
            target: String::new(),
            input: None,
            message: "the mapping did not produce an object".into(),
        });
    };
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.push_str(&xml.root);
    for (p, uri) in &xml.namespaces {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape(uri, true, &mut out);
        out.push('"');
    }
    let w = Writer {
        prefix: xml.prefix.as_deref(),
    };
    w.attributes(&mapping.fields, obj, &mut out);
    out.push('>');
    w.children(&mapping.fields, obj, &mut out);
    out.push_str("</");
    out.push_str(&xml.root);
    out.push_str(">\n");
    Ok(out)
}

struct Writer<'a> {
    prefix: Option<&'a str>,
}

impl Writer<'_> {
    fn qname(&self, target: &str) -> String {
        match self.prefix {
            Some(p) if !target.contains(':') => format!("{p}:{target}"),
            _ => target.to_string(),
        }
    }

    fn attributes(&self, fields: &[Field], obj: &Map<String, Value>, out: &mut String) {
        for f in fields {
            let Some(name) = f.target.strip_prefix('@') else {
                continue;
            };
            if let Some(v) = obj.get(&f.target).filter(|v| !v.is_null()) {
                out.push(' ');
                out.push_str(name);
                out.push_str("=\"");
                escape(&text(v), true, out);
                out.push('"');
            }
        }
    }

    fn children(&self, fields: &[Field], obj: &Map<String, Value>, out: &mut String) {
        for f in fields.iter().filter(|f| !f.target.starts_with('@')) {
            match obj.get(&f.target) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        self.element(f, item, out);
                    }
                }
                Some(v) => self.element(f, v, out),
            }
        }
    }

    fn element(&self, f: &Field, v: &Value, out: &mut String) {
        let name = self.qname(&f.target);
        out.push('<');
        out.push_str(&name);
        match (v, &f.children) {
            (Value::Object(o), Some(kids)) => {
                self.attributes(kids, o, out);
                out.push('>');
                self.children(kids, o, out);
            }
            (other, _) => {
                out.push('>');
                escape(&text(other), false, out);
            }
        }
        out.push_str("</");
        out.push_str(&name);
        out.push('>');
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn escape(s: &str, attribute: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' if !attribute => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#x9;"),
            '\n' if attribute => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}
