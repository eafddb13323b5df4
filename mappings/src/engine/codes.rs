//! Code tables: canonical values (`accepted`, `online`, `cccd`) to a portal's codes (`2`, `2`, `1`).

use std::collections::BTreeMap;

use serde_json::Value;

/// One code table; `default` answers for values it does not list.
#[derive(Debug, Clone, Default)]
pub struct CodeTable {
    entries: BTreeMap<String, Value>,
    default: Option<Value>,
}

impl CodeTable {
    /// The portal code for a canonical value, or the table's default.
    pub fn lookup(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).or(self.default.as_ref())
    }

    /// The listed entries (without the default), in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// The code tables of one destination kind, by name.
#[derive(Debug, Clone, Default)]
pub struct CodeTables {
    tables: BTreeMap<String, CodeTable>,
}

impl CodeTables {
    pub(super) fn insert(
        &mut self,
        name: String,
        entries: BTreeMap<String, Value>,
        default: Option<Value>,
    ) {
        self.tables.insert(name, CodeTable { entries, default });
    }

    /// A table by name.
    pub fn get(&self, name: &str) -> Option<&CodeTable> {
        self.tables.get(name)
    }

    /// The names of all tables.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}
