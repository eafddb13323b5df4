//! `[destinations.<peer>.axis]`: this center's account on the document-exchange axis.

use std::path::PathBuf;

use lienthong_certs::Secret;
use serde::Deserialize;

use crate::ConfigProblem;

/// `[destinations.<peer>.axis]`, required with `transport = "axis"`: the member system's id and
/// shared secret the axis's operator issued (the SDK's `systemId` and `secret`), and the
/// `servicetype` of what is exchanged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisConfig {
    /// `systemid`: this center's member system on the axis.
    pub system_id: String,
    /// File holding the shared secret (mode 0600), the key of every call's HMAC.
    pub secret_file: PathBuf,
    /// `servicetype` of documents and statuses (`eDoc`, as the observed clients send).
    #[serde(default = "edoc")]
    pub service_type: String,
}

fn edoc() -> String {
    "eDoc".to_owned()
}

impl AxisConfig {
    /// Every problem, with its key under `axis.`.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if self.system_id.trim().is_empty() {
            p.push(ConfigProblem::new("axis.system_id", "required"));
        }
        if self.service_type.trim().is_empty() {
            p.push(ConfigProblem::new("axis.service_type", "must not be empty"));
        }
        p
    }

    /// The shared secret, read from its file.
    ///
    /// Errors: the file cannot be read.
    pub fn secret(&self) -> Result<Secret, lienthong_certs::SecretError> {
        Secret::from_file(&self.secret_file)
    }
}
