//! The mapping engine: declarative translations of the canonical model into portal formats.
//!
//! A destination kind (`dvcqg`, …) has a *mapping set*: a directory with `codes.toml` (code tables)
//! and one `*.toml` file per output document (`hoso.toml`, `tien-do.toml`). Files are compiled once
//! at load time against the model's JSON Schema, so a typo in a source path, an unknown code table
//! or a bad date pattern fails `lienthong mapping check` and start-up, with file and line, instead
//! of failing a delivery at 3 a.m. Rendering is then a pure function from JSON to JSON.

mod codes;
mod datefmt;
mod render;
mod schema;
mod spec;
mod xml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;
use time::UtcOffset;

pub use crate::model::VIETNAM_OFFSET;
pub use codes::{CodeTable, CodeTables};
pub use datefmt::{DatePattern, DatePatternError};
pub use render::RenderError;
pub use schema::Shape;
pub use xml::XmlOutput;

use crate::model::{Dossier, ExchangeInput, ProgressInput};

/// The file of a mapping set that holds its code tables.
pub const CODES_FILE: &str = "codes.toml";

/// What a mapping renders from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A [`Dossier`].
    Dossier,
    /// A [`ProgressInput`] (one status event of one dossier).
    Progress,
    /// An [`ExchangeInput`] (an inter-level edXML message: envelope with a dossier or a status).
    Exchange,
}

impl InputKind {
    fn shape(self) -> Shape {
        let schema = match self {
            Self::Dossier => schemars::schema_for!(Dossier),
            Self::Progress => schemars::schema_for!(ProgressInput),
            Self::Exchange => schemars::schema_for!(ExchangeInput),
        };
        Shape::from_root_schema(&schema.to_value())
    }
}

/// A problem in a mapping file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// File name (as given to the loader).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found while loading a mapping set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError(pub Vec<SpecError>);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A path into the input: relative to the current item, or to the root (`$.` prefix).
#[derive(Debug, Clone)]
pub(crate) struct SourcePath {
    pub(crate) text: String,
    pub(crate) from_root: bool,
    pub(crate) segments: Vec<String>,
}

/// `path=value` or `path!=value`, compared on the value's text.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) path: SourcePath,
    pub(crate) equals: String,
    pub(crate) negate: bool,
}

/// Value transforms applied before code tables and formats.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Transform {
    /// `true` when the value is a non-empty list, string or object.
    NonEmpty,
    /// The number of items of a list (0 when absent).
    Count,
    /// The value as text.
    String,
}

/// One compiled output field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) target: String,
    pub(crate) source: Option<SourcePath>,
    pub(crate) fallback: Option<SourcePath>,
    pub(crate) constant: Option<Value>,
    pub(crate) default: Option<Value>,
    pub(crate) code_table: Option<String>,
    pub(crate) date: Option<DatePattern>,
    pub(crate) transform: Option<Transform>,
    pub(crate) max_length: Option<usize>,
    pub(crate) required: bool,
    pub(crate) when: Option<Condition>,
    pub(crate) as_list: bool,
    pub(crate) children: Option<Vec<Field>>,
}

/// One compiled mapping file: how to build one portal document.
#[derive(Debug, Clone)]
pub struct Mapping {
    name: String,
    description: String,
    input: InputKind,
    offset: UtcOffset,
    fields: Vec<Field>,
    xml: Option<XmlOutput>,
}

impl Mapping {
    /// The mapping's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description written in the file.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// What it renders from.
    pub fn input(&self) -> InputKind {
        self.input
    }

    /// How the result is written as XML, when the file has an `[xml]` table.
    pub fn xml(&self) -> Option<&XmlOutput> {
        self.xml.as_ref()
    }
}

/// The compiled mappings and code tables of one destination kind.
#[derive(Debug, Clone)]
pub struct MappingSet {
    origin: String,
    tables: CodeTables,
    mappings: BTreeMap<String, Mapping>,
}

impl MappingSet {
    /// Compiles a set from `(file name, text)` pairs; `origin` names where they came from.
    ///
    /// Errors: every problem of every file, with file and line.
    pub fn from_sources(origin: &str, files: &[(&str, &str)]) -> Result<Self, LoadError> {
        let mut errors = Vec::new();
        let tables = match files.iter().find(|(n, _)| *n == CODES_FILE) {
            Some((name, text)) => spec::compile_tables(&format!("{origin}/{name}"), text)
                .unwrap_or_else(|e| {
                    errors.extend(e);
                    CodeTables::default()
                }),
            None => CodeTables::default(),
        };
        let mut mappings = BTreeMap::new();
        for (name, text) in files.iter().filter(|(n, _)| *n != CODES_FILE) {
            let stem = name.strip_suffix(".toml").unwrap_or(name);
            match spec::compile(&format!("{origin}/{name}"), stem, text, &tables) {
                Ok(m) => {
                    mappings.insert(stem.to_owned(), m);
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                origin: origin.to_owned(),
                tables,
                mappings,
            })
        } else {
            Err(LoadError(errors))
        }
    }

    /// The set's code tables (a connector may read one the other way round, e.g. a portal's
    /// status codes to canonical statuses).
    pub fn tables(&self) -> &CodeTables {
        &self.tables
    }

    /// A destination kind's set, the one way every kind loads: the operator's edited copies in
    /// `dir` when one is configured (`mappings_dir`), else the kind's built-in `files`
    /// (named `builtin:<kind>`); then each of `required` (mapping name, input) must be there,
    /// so a missing or mistyped file is a configuration error at start-up, not a failed delivery.
    ///
    /// Errors: every problem of every file, with file and line; a required mapping absent or
    /// reading another input.
    pub fn for_kind(
        kind: &str,
        dir: Option<&Path>,
        files: &[(&str, &str)],
        required: &[(&str, InputKind)],
    ) -> Result<Self, LoadError> {
        let set = match dir {
            Some(dir) => Self::from_dir(dir)?,
            None => Self::from_sources(&format!("builtin:{kind}"), files)?,
        };
        for (name, input) in required {
            set.require(name, *input)?;
        }
        Ok(set)
    }

    /// Compiles the `*.toml` files of a directory.
    ///
    /// Errors: the directory cannot be read (reported as a problem of the directory), or the files
    /// have problems.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let origin = dir.display().to_string();
        let io_err = |message: String| {
            LoadError(vec![SpecError {
                file: origin.clone(),
                line: 0,
                message,
            }])
        };
        let entries = std::fs::read_dir(dir).map_err(|e| io_err(format!("cannot read: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| io_err(e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| io_err(format!("{}: {e}", path.display())))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.push((name, text));
            }
        }
        files.sort();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        Self::from_sources(&origin, &refs)
    }

    /// Where the set was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A mapping by name.
    pub fn get(&self, name: &str) -> Option<&Mapping> {
        self.mappings.get(name)
    }

    /// All mappings.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    /// Checks that the set has a mapping `name` reading `input`; connectors call this at
    /// start-up so a missing file is a configuration error, not a delivery failure.
    pub fn require(&self, name: &str, input: InputKind) -> Result<&Mapping, LoadError> {
        match self.mappings.get(name) {
            Some(m) if m.input == input => Ok(m),
            Some(_) => Err(self.missing(format!("mapping `{name}` must have input = {input:?}"))),
            None => Err(self.missing(format!("mapping `{name}.toml` is missing"))),
        }
    }

    fn missing(&self, message: String) -> LoadError {
        LoadError(vec![SpecError {
            file: self.origin.clone(),
            line: 0,
            message,
        }])
    }

    /// Renders `input` with the mapping `name`.
    ///
    /// Errors: no such mapping, or the input lacks a required field, has a value missing from a
    /// code table, or a date that does not parse.
    pub fn render(&self, name: &str, input: &Value) -> Result<Value, RenderError> {
        render::render(self.named(name)?, &self.tables, input)
    }

    fn named(&self, name: &str) -> Result<&Mapping, RenderError> {
        self.mappings.get(name).ok_or_else(|| RenderError {
            mapping: name.to_owned(),
            target: String::new(),
            input: None,
            message: "no such mapping".to_owned(),
        })
    }

    /// Renders `input` with the mapping `name` and writes it as XML (the mapping must have an
    /// `[xml]` table).
    ///
    /// Errors: as [`MappingSet::render`], or the mapping has no XML output.
    pub fn render_xml(&self, name: &str, input: &Value) -> Result<String, RenderError> {
        let mapping = self.named(name)?;
        let value = render::render(mapping, &self.tables, input)?;
        let out = mapping.xml.as_ref().ok_or_else(|| RenderError {
            mapping: name.to_owned(),
            target: String::new(),
            input: None,
            message: "the mapping has no [xml] output".to_owned(),
        })?;
        xml::write(mapping, out, &value)
    }
}

#[cfg(test)]
mod tests;
