//! Rendering: walks a compiled mapping over an input value and builds the portal document.

use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CodeTables, Condition, Field, Mapping, SourcePath, Transform};

/// Why an input cannot be rendered: the output field, the input path it reads and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RenderError {
    /// The mapping (file stem).
    pub mapping: String,
    /// Output field path, e.g. `TaiLieuNop[0].DuongDanTaiTepTin`.
    pub target: String,
    /// Input path read, e.g. `documents[0].url`.
    pub input: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl RenderError {
    /// The input field to blame when there is one, else the output field.
    pub fn field(&self) -> &str {
        self.input.as_deref().unwrap_or(&self.target)
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.input {
            Some(s) => write!(
                f,
                "{s}: {} (for {} in {})",
                self.message, self.target, self.mapping
            ),
            None => write!(f, "{}: {} (in {})", self.target, self.message, self.mapping),
        }
    }
}

struct Cx<'a> {
    mapping: &'a Mapping,
    tables: &'a CodeTables,
    root: &'a Value,
}

/// A value being read, with the input path it came from (for error messages).
struct Here<'a> {
    value: &'a Value,
    path: String,
}

pub(super) fn render(
    mapping: &Mapping,
    tables: &CodeTables,
    input: &Value,
) -> Result<Value, RenderError> {
    let cx = Cx {
        mapping,
        tables,
        root: input,
    };
    let here = Here {
        value: input,
        path: String::new(),
    };
    let mut out = Map::new();
    cx.fields(&mapping.fields, &here, "", &mut out)?;
    Ok(Value::Object(out))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Cx<'_> {
    fn err(&self, target: &str, source: Option<String>, message: impl Into<String>) -> RenderError {
        RenderError {
            mapping: self.mapping.name.clone(),
            target: target.to_owned(),
            input: source,
            message: message.into(),
        }
    }

    fn lookup<'v>(&'v self, here: &Here<'v>, p: &SourcePath) -> (Option<&'v Value>, String) {
        let (mut v, base) = if p.from_root {
            (self.root, String::new())
        } else {
            (here.value, here.path.clone())
        };
        for seg in &p.segments {
            match v.get(seg) {
                Some(next) => v = next,
                None => return (None, join(&base, &p.segments.join("."))),
            }
        }
        let path = join(&base, &p.segments.join("."));
        if v.is_null() {
            (None, path)
        } else {
            (Some(v), path)
        }
    }

    fn holds(&self, here: &Here<'_>, c: &Condition) -> bool {
        let (v, _) = self.lookup(here, &c.path);
        let text = v.map(text_of).unwrap_or_default();
        (text == c.equals) != c.negate
    }

    fn fields(
        &self,
        fields: &[Field],
        here: &Here<'_>,
        out_prefix: &str,
        out: &mut Map<String, Value>,
    ) -> Result<(), RenderError> {
        for f in fields {
            let target = join(out_prefix, &f.target);
            if let Some(c) = &f.when
                && !self.holds(here, c)
            {
                continue;
            }
            if let Some(v) = self.field(f, here, &target)? {
                out.insert(f.target.clone(), v);
            }
        }
        Ok(())
    }

    fn field(
        &self,
        f: &Field,
        here: &Here<'_>,
        target: &str,
    ) -> Result<Option<Value>, RenderError> {
        if let Some(c) = &f.constant {
            return Ok(Some(c.clone()));
        }
        let (mut value, mut path) = match &f.source {
            Some(p) => self.lookup(here, p),
            None => (Some(here.value), here.path.clone()),
        };
        if value.is_none()
            && let Some(fb) = &f.fallback
        {
            (value, path) = self.lookup(here, fb);
        }
        let source = f.source.as_ref().map(|_| path.clone());
        if let Some(children) = &f.children {
            return self.nested(f, children, value, &path, target);
        }
        let value = match (value, f.transform) {
            (v, Some(t)) => apply(t, v),
            (Some(v), None) => Some(v.clone()),
            (None, None) => None,
        };
        let Some(mut value) = value else {
            return match (&f.default, f.required) {
                (Some(d), _) => Ok(Some(d.clone())),
                (None, true) => Err(self.err(target, source, "required")),
                (None, false) => Ok(None),
            };
        };
        if let Some(table) = &f.code_table {
            let key = text_of(&value);
            let mapped = self
                .tables
                .get(table)
                .and_then(|t| t.lookup(&key))
                .ok_or_else(|| {
                    self.err(
                        target,
                        source.clone(),
                        format!("value `{key}` is not in code table `{table}`"),
                    )
                })?;
            value = mapped.clone();
        }
        if let Some(pattern) = &f.date {
            let text = value
                .as_str()
                .ok_or_else(|| self.err(target, source.clone(), "expected a date-time string"))?;
            let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
                self.err(
                    target,
                    source.clone(),
                    format!("not an RFC 3339 date-time: {e}"),
                )
            })?;
            value = Value::String(
                pattern
                    .format(at, self.mapping.offset)
                    .map_err(|e| self.err(target, source.clone(), e.to_string()))?,
            );
        }
        if let (Some(max), Value::String(s)) = (f.max_length, &mut value)
            && s.chars().count() > max
        {
            *s = s.chars().take(max).collect();
        }
        if f.required && value.as_str().is_some_and(|s| s.trim().is_empty()) {
            return Err(self.err(target, source, "required"));
        }
        Ok(Some(value))
    }

    fn nested(
        &self,
        f: &Field,
        children: &[Field],
        value: Option<&Value>,
        path: &str,
        target: &str,
    ) -> Result<Option<Value>, RenderError> {
        let source = f.source.as_ref().map(|_| path.to_owned());
        match value {
            None => match (&f.default, f.required) {
                (Some(d), _) => Ok(Some(d.clone())),
                (None, true) => Err(self.err(target, source, "required")),
                (None, false) => Ok(None),
            },
            Some(Value::Array(items)) => {
                if f.required && items.is_empty() {
                    return Err(self.err(target, source, "required (empty list)"));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let here = Here {
                        value: item,
                        path: format!("{path}[{i}]"),
                    };
                    let mut obj = Map::new();
                    self.fields(children, &here, &format!("{target}[{i}]"), &mut obj)?;
                    out.push(Value::Object(obj));
                }
                Ok(Some(Value::Array(out)))
            }
            Some(v) => {
                let here = Here {
                    value: v,
                    path: path.to_owned(),
                };
                let item_target = if f.as_list {
                    format!("{target}[0]")
                } else {
                    target.to_owned()
                };
                let mut obj = Map::new();
                self.fields(children, &here, &item_target, &mut obj)?;
                let obj = Value::Object(obj);
                Ok(Some(if f.as_list {
                    Value::Array(vec![obj])
                } else {
                    obj
                }))
            }
        }
    }
}

fn apply(t: Transform, v: Option<&Value>) -> Option<Value> {
    Some(match t {
        Transform::NonEmpty => Value::Bool(match v {
            None => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        }),
        Transform::Count => Value::from(match v {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Null) | None => 0,
            Some(_) => 1,
        }),
        Transform::String => Value::String(text_of(v?)),
    })
}

/// The text of a scalar as code tables and conditions compare it.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
