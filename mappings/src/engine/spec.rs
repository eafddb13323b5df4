//! The mapping-file format (TOML) and its compilation into a [`Mapping`].
//!
//! A mapping file lists output fields in order; each takes its value from a `source` path of the
//! input (relative to the current list item, or to the root with a `$.` prefix), a constant
//! `value`, or nested `fields`. Every problem found is reported with the file and line, and all
//! of them are reported, not only the first.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use time::UtcOffset;
use toml::Spanned;

use super::codes::CodeTables;
use super::datefmt::DatePattern;
use super::schema::Shape;
use super::{Condition, Field, InputKind, Mapping, SourcePath, SpecError, Transform};
use crate::model::VIETNAM_OFFSET;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    description: Option<String>,
    input: Spanned<String>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    fields: Vec<FieldFile>,
    /// Write the result as XML (see `engine::xml`).
    #[serde(default)]
    xml: Option<Spanned<XmlFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct XmlFile {
    root: String,
    #[serde(default)]
    namespaces: BTreeMap<String, String>,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    target: Spanned<String>,
    #[serde(default)]
    source: Option<Spanned<String>>,
    #[serde(default)]
    fallback: Option<Spanned<String>>,
    #[serde(default)]
    value: Option<toml::Value>,
    #[serde(default)]
    default: Option<toml::Value>,
    #[serde(default)]
    code_table: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    transform: Option<Spanned<String>>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    when: Option<Spanned<String>>,
    #[serde(default)]
    as_list: bool,
    #[serde(default)]
    fields: Option<Vec<FieldFile>>,
}

/// Compiles one mapping file. `name` is the file stem; `file` is used in error messages.
pub(super) fn compile(
    file: &str,
    name: &str,
    text: &str,
    tables: &CodeTables,
) -> Result<Mapping, Vec<SpecError>> {
    let parsed: MappingFile = toml::from_str(text).map_err(|e| {
        vec![SpecError {
            file: file.to_owned(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().to_owned(),
        }]
    })?;
    let mut cx = Compiler {
        file,
        text,
        tables,
        errors: Vec::new(),
    };
    let input = match parsed.input.get_ref().as_str() {
        "dossier" => Some(InputKind::Dossier),
        "progress" => Some(InputKind::Progress),
        "exchange" => Some(InputKind::Exchange),
        other => {
            cx.error(
                &parsed.input,
                format!("unknown input `{other}` (expected dossier, progress or exchange)"),
            );
            None
        }
    };
    let offset = match &parsed.timezone {
        None => VIETNAM_OFFSET,
        Some(tz) => UtcOffset::parse(
            tz.get_ref(),
            time::macros::format_description!("[offset_hour]:[offset_minute]"),
        )
        .unwrap_or_else(|_| {
            cx.error(
                tz,
                format!("bad timezone `{}` (expected like +07:00)", tz.get_ref()),
            );
            VIETNAM_OFFSET
        }),
    };
    let Some(input) = input else {
        return Err(cx.errors);
    };
    let root = input.shape();
    let fields = cx.fields(&parsed.fields, &root, &root);
    let xml = parsed.xml.as_ref().and_then(|x| cx.xml(x, &fields));
    if cx.errors.is_empty() {
        Ok(Mapping {
            name: name.to_owned(),
            description: parsed.description.unwrap_or_default(),
            input,
            offset,
            fields,
            xml,
        })
    } else {
        Err(cx.errors)
    }
}

pub(super) fn line_of(text: &str, byte: usize) -> usize {
    text.get(..byte)
        .map_or(1, |t| t.bytes().filter(|&b| b == b'\n').count() + 1)
}

struct Compiler<'a> {
    file: &'a str,
    text: &'a str,
    tables: &'a CodeTables,
    errors: Vec<SpecError>,
}

impl Compiler<'_> {
    fn error<T>(&mut self, at: &Spanned<T>, message: String) {
        self.errors.push(SpecError {
            file: self.file.to_owned(),
            line: line_of(self.text, at.span().start),
            message,
        });
    }

    fn fields(&mut self, files: &[FieldFile], here: &Shape, root: &Shape) -> Vec<Field> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            if !seen.insert(f.target.get_ref().clone()) {
                self.error(
                    &f.target,
                    format!("duplicate target `{}`", f.target.get_ref()),
                );
            }
            if let Some(field) = self.field(f, here, root) {
                out.push(field);
            }
        }
        out
    }

    /// Resolves a source path against the shape it is relative to.
    fn path(
        &mut self,
        p: &Spanned<String>,
        here: &Shape,
        root: &Shape,
    ) -> Option<(SourcePath, Shape)> {
        let raw = p.get_ref();
        let (from_root, rest) = match raw.strip_prefix("$.") {
            Some(rest) => (true, rest),
            None => (false, raw.as_str()),
        };
        let segments: Vec<String> = rest.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            self.error(p, format!("bad source path `{raw}`"));
            return None;
        }
        let base = if from_root { root } else { here };
        match base.resolve(&segments) {
            Ok(shape) => Some((
                SourcePath {
                    text: raw.clone(),
                    from_root,
                    segments,
                },
                shape.clone(),
            )),
            Err(e) => {
                self.error(p, format!("unknown source path `{raw}`: {e}"));
                None
            }
        }
    }

    fn field(&mut self, f: &FieldFile, here: &Shape, root: &Shape) -> Option<Field> {
        let target = f.target.get_ref().clone();
        if target.is_empty() {
            self.error(&f.target, "empty target".to_owned());
        }
        if f.value.is_some() && (f.source.is_some() || f.fields.is_some()) {
            self.error(
                &f.target,
                format!("`{target}`: `value` excludes `source` and `fields`"),
            );
        }
        if f.value.is_none() && f.source.is_none() && f.fields.is_none() {
            self.error(
                &f.target,
                format!("`{target}`: needs `source`, `value` or `fields`"),
            );
        }
        let source = f.source.as_ref().and_then(|s| self.path(s, here, root));
        let fallback = f.fallback.as_ref().and_then(|s| self.path(s, here, root));
        let when = f.when.as_ref().and_then(|w| self.condition(w, here, root));
        let transform = f
            .transform
            .as_ref()
            .and_then(|t| match t.get_ref().as_str() {
                "non_empty" => Some(Transform::NonEmpty),
                "count" => Some(Transform::Count),
                "string" => Some(Transform::String),
                other => {
                    self.error(
                        t,
                        format!(
                            "unknown transform `{other}` (expected non_empty, count or string)"
                        ),
                    );
                    None
                }
            });
        let code_table = f.code_table.as_ref().and_then(|t| {
            if self.tables.get(t.get_ref()).is_some() {
                Some(t.get_ref().clone())
            } else {
                let known: Vec<_> = self.tables.names().collect();
                self.error(
                    t,
                    format!(
                        "unknown code table `{}` (known: {})",
                        t.get_ref(),
                        known.join(", ")
                    ),
                );
                None
            }
        });
        let date = f
            .format
            .as_ref()
            .and_then(|p| match DatePattern::parse(p.get_ref()) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(p, e.to_string());
                    None
                }
            });
        let children = match &f.fields {
            None => None,
            Some(kids) => {
                if f.code_table.is_some() || f.format.is_some() || f.transform.is_some() {
                    self.error(
                        &f.target,
                        format!(
                            "`{target}`: nested `fields` exclude code_table, format and transform"
                        ),
                    );
                }
                let item_shape = match &source {
                    None => here.clone(),
                    Some((_, Shape::List(item))) => (**item).clone(),
                    Some((_, shape @ (Shape::Object { .. } | Shape::Any))) => shape.clone(),
                    Some((p, Shape::Leaf)) => {
                        if let Some(s) = &f.source {
                            self.error(
                                s,
                                format!("`{}` is a scalar: it cannot have `fields`", p.text),
                            );
                        }
                        Shape::Any
                    }
                };
                Some(self.fields(kids, &item_shape, root))
            }
        };
        // A list of objects needs `fields`; a list of scalars (objectives, names) is taken as it
        // is (repeated elements in XML), unless a code table would have to apply to it.
        let scalar_list = matches!(&source, Some((_, Shape::List(item))) if **item == Shape::Leaf)
            && f.code_table.is_none();
        if let (Some((p, Shape::List(_))), None, None) = (&source, &f.fields, &transform)
            && !scalar_list
            && let Some(s) = &f.source
        {
            self.error(
                s,
                format!(
                    "`{}` is a list: give it `fields` or a transform (count, non_empty)",
                    p.text
                ),
            );
        }
        Some(Field {
            target,
            source: source.map(|(p, _)| p),
            fallback: fallback.map(|(p, _)| p),
            constant: f.value.as_ref().map(toml_to_json),
            default: f.default.as_ref().map(toml_to_json),
            code_table,
            date,
            transform,
            max_length: f.max_length,
            required: f.required,
            when,
            as_list: f.as_list,
            children,
        })
    }

    /// Checks the `[xml]` table and that every target is an XML name.
    fn xml(&mut self, x: &Spanned<XmlFile>, fields: &[Field]) -> Option<super::xml::XmlOutput> {
        let v = x.get_ref();
        let mut ok = true;
        if !super::xml::valid_name(&v.root) {
            self.error(x, format!("xml.root `{}` is not an XML name", v.root));
            ok = false;
        }
        let root_prefix = v.root.split_once(':').map(|(p, _)| p.to_string());
        for prefix in v.prefix.iter().chain(root_prefix.iter()) {
            if !v.namespaces.contains_key(prefix) {
                self.error(
                    x,
                    format!("xml: prefix `{prefix}` is not in xml.namespaces"),
                );
                ok = false;
            }
        }
        let mut bad = Vec::new();
        fn walk(fields: &[Field], bad: &mut Vec<String>) {
            for f in fields {
                let name = f.target.strip_prefix('@').unwrap_or(&f.target);
                if !super::xml::valid_name(name) {
                    bad.push(f.target.clone());
                }
                if let Some(k) = &f.children {
                    walk(k, bad);
                }
            }
        }
        walk(fields, &mut bad);
        for b in bad {
            self.error(x, format!("xml: target `{b}` is not an XML name"));
            ok = false;
        }
        ok.then(|| super::xml::XmlOutput {
            root: v.root.clone(),
            namespaces: v
                .namespaces
                .iter()
                .map(|(p, u)| (p.clone(), u.clone()))
                .collect(),
            prefix: v.prefix.clone(),
        })
    }

    fn condition(&mut self, w: &Spanned<String>, here: &Shape, root: &Shape) -> Option<Condition> {
        let raw = w.get_ref();
        let (path, equals, negate) = if let Some((p, v)) = raw.split_once("!=") {
            (p, v, true)
        } else if let Some((p, v)) = raw.split_once('=') {
            (p, v, false)
        } else {
            self.error(
                w,
                format!("bad condition `{raw}` (expected `path=value` or `path!=value`)"),
            );
            return None;
        };
        let spanned = Spanned::new(w.span(), path.trim().to_owned());
        let (path, _) = self.path(&spanned, here, root)?;
        Some(Condition {
            path,
            equals: equals.trim().to_owned(),
            negate,
        })
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
    }
}

/// Parses a code-table file: `[tables.NAME]` sections of `canonical = portal code`, with an
/// optional `_default` entry used for values not listed.
pub(super) fn compile_tables(file: &str, text: &str) -> Result<CodeTables, Vec<SpecError>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TablesFile {
        tables: BTreeMap<String, Spanned<BTreeMap<String, toml::Value>>>,
    }
    let parsed: TablesFile = toml::from_str(text).map_err(|e| {
        vec![SpecError {
            file: file.to_owned(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().to_owned(),
        }]
    })?;
    let mut tables = CodeTables::default();
    let mut errors = Vec::new();
    for (name, entries) in parsed.tables {
        let span = entries.span();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut default = None;
        for (k, v) in entries.into_inner() {
            if matches!(v, toml::Value::Table(_) | toml::Value::Array(_)) {
                errors.push(SpecError {
                    file: file.to_owned(),
                    line: line_of(text, span.start),
                    message: format!(
                        "code table `{name}`: `{k}` must map to a string, number or boolean"
                    ),
                });
                continue;
            }
            if k == "_default" {
                default = Some(toml_to_json(&v));
            } else {
                map.insert(k, toml_to_json(&v));
            }
        }
        tables.insert(name, map, default);
    }
    if errors.is_empty() {
        Ok(tables)
    } else {
        Err(errors)
    }
}
