//! The shape of a mapping's input, read from the model's JSON Schema, so that mapping files are
//! checked against the real model (an unknown `source` path is an error at load time) without a
//! second, hand-kept list of fields.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A node of the input shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A scalar (string, number, boolean, enum).
    Leaf,
    /// An object with known properties; `open` when it also takes arbitrary keys (`extra`).
    Object {
        /// Known properties.
        children: BTreeMap<String, Shape>,
        /// Whether unknown keys are allowed (and so any sub-path is accepted).
        open: bool,
    },
    /// A list of items of one shape.
    List(Box<Shape>),
    /// Anything (a free JSON value).
    Any,
}

impl Shape {
    /// Builds the shape of a schemars root schema.
    pub fn from_root_schema(root: &Value) -> Self {
        let defs = root
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        build(root, &defs, 0)
    }

    /// Follows `path` (already split) from this node.
    ///
    /// Errors: [`PathError`] naming the first segment that does not exist, or the list or leaf
    /// the path goes into.
    pub fn resolve(&self, path: &[String]) -> Result<&Shape, PathError> {
        let mut node = self;
        for (i, seg) in path.iter().enumerate() {
            node = match node {
                Shape::Any => return Ok(&Shape::Any),
                Shape::Object { children, open } => match children.get(seg) {
                    Some(child) => child,
                    None if *open => return Ok(&Shape::Any),
                    None => return Err(PathError::NoField(path[..=i].join("."))),
                },
                Shape::List(_) => {
                    return Err(PathError::IntoList(path[..i].join(".")));
                }
                Shape::Leaf => {
                    return Err(PathError::IntoLeaf(path[..i].join(".")));
                }
            };
        }
        Ok(node)
    }
}

/// Why a source path does not lead to a field of the input's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// No such field (the path up to it).
    #[error("no field `{0}`")]
    NoField(String),
    /// The path goes into a list (the list's path).
    #[error("`{0}` is a list: map its items with `fields`")]
    IntoList(String),
    /// The path goes into a field that has no sub-fields.
    #[error("`{0}` has no sub-fields")]
    IntoLeaf(String),
}

const MAX_DEPTH: usize = 32;

fn build(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Shape {
    if depth > MAX_DEPTH {
        return Shape::Any;
    }
    let Some(obj) = schema.as_object() else {
        // `true` schema
        return Shape::Any;
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return defs
            .get(name)
            .map_or(Shape::Any, |d| build(d, defs, depth + 1));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = obj.get(key).and_then(Value::as_array) {
            let shapes: Vec<Shape> = branches
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .map(|b| build(b, defs, depth + 1))
                .collect();
            return match shapes.len() {
                1 => shapes.into_iter().next().unwrap_or(Shape::Any),
                _ if shapes.iter().all(|s| *s == Shape::Leaf) => Shape::Leaf,
                _ => Shape::Any,
            };
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"array") {
        let item = obj
            .get("items")
            .map_or(Shape::Any, |i| build(i, defs, depth + 1));
        return Shape::List(Box::new(item));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let children = props
            .iter()
            .map(|(k, v)| (k.clone(), build(v, defs, depth + 1)))
            .collect();
        let open = !matches!(obj.get("additionalProperties"), Some(Value::Bool(false)));
        return Shape::Object { children, open };
    }
    if types.contains(&"object") {
        return Shape::Object {
            children: BTreeMap::new(),
            open: true,
        };
    }
    if types.is_empty() && obj.get("enum").is_none() && obj.get("const").is_none() {
        return Shape::Any;
    }
    Shape::Leaf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dossier;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn dossier_shape_knows_the_model() {
        let schema = serde_json::to_value(schemars::schema_for!(Dossier)).expect("schema");
        let shape = Shape::from_root_schema(&schema);
        assert_eq!(
            shape.resolve(&path("applicant.identity.number")),
            Ok(&Shape::Leaf)
        );
        assert_eq!(shape.resolve(&path("status")), Ok(&Shape::Leaf));
        assert!(matches!(
            shape.resolve(&path("documents")),
            Ok(Shape::List(_))
        ));
        assert_eq!(shape.resolve(&path("extra.anything.deep")), Ok(&Shape::Any));
        let err = shape
            .resolve(&path("applicant.identity.numbr"))
            .expect_err("unknown");
        assert_eq!(err, PathError::NoField("applicant.identity.numbr".into()));
        let err = shape.resolve(&path("documents.url")).expect_err("list");
        assert!(err.to_string().contains("is a list"), "{err}");
        assert!(matches!(
            shape.resolve(&path("business.head_office")),
            Ok(Shape::Object { .. })
        ));
    }
}
