//! The registry contract of a destination kind: everything the gateway needs to know about a
//! kind, implemented by the kind's configuration type in its own folder (`dvcqg/`, `peer/`…).
//!
//! The gateway lists the kinds once (`kind` value → configuration type, in
//! `gateway/src/config/destinations.rs`); every other question — is the table valid, which URLs
//! and secret files does it name, which mapping set does it render with, how is its connector
//! built — goes through [`KindConfig`]. Adding a destination kind is its folder and that line.

use std::path::PathBuf;
use std::sync::Arc;

use lienthong_certs::xmldsig::Signer;
use lienthong_mappings::{LoadError, MappingSet, RenderError};

use crate::endpoint::EndpointConfig;
use crate::files::AttachmentsConfig;
use crate::follow::Follow;
use crate::http::OutboundSecurity;
use crate::{BuildError, ConfigProblem, Connector, MessageBody};

/// What building a connector may take from the gateway.
pub struct BuildContext<'a> {
    /// The destination's TLS settings and RFC 9421 request signer.
    pub outbound: &'a OutboundSecurity,
    /// The center's XML-DSig identity (`[signing]`), for kinds that sign documents.
    pub xml_signer: Option<Arc<Signer>>,
    /// The center's agency code (mã định danh).
    pub center_code: &'a str,
    /// The center's name.
    pub center_name: &'a str,
    /// Where a dossier's files may be fetched from (`[attachments]`).
    pub attachments: &'a AttachmentsConfig,
    /// The destination's mapping set as the gateway loaded it when it read the configuration
    /// (so its files are read once); `None`: the builder loads it.
    pub loaded_mappings: Option<&'a MappingSet>,
}

impl BuildContext<'_> {
    /// The mapping set `config` renders with: the one loaded with the configuration, else
    /// loaded now (see [`mapping_set`]).
    ///
    /// Errors: a mapping file is missing or invalid; the kind renders with no mapping set.
    pub fn mappings<K: KindConfig>(&self, config: &K) -> Result<MappingSet, LoadError> {
        match self.loaded_mappings {
            Some(set) => Ok(set.clone()),
            None => mapping_set(config).unwrap_or_else(|| {
                Err(LoadError(vec![lienthong_mappings::engine::SpecError {
                    file: "(none)".into(),
                    line: 0,
                    message: "this kind renders with no mapping set".into(),
                }]))
            }),
        }
    }

    /// The center's XML-DSig identity, which `what` needs.
    ///
    /// Errors: `[signing]` is not configured (a problem under the destination's `kind`).
    pub fn require_signer(&self, what: &str) -> Result<Arc<Signer>, BuildError> {
        self.xml_signer.clone().ok_or_else(|| {
            BuildError::Config(vec![ConfigProblem::new(
                "kind",
                format!("{what} needs the center's [signing] identity"),
            )])
        })
    }
}

/// A built destination: its connector, and its follow-up poller when the kind follows what it
/// delivered (NBRS).
pub struct Built {
    /// Delivers, renders, probes.
    pub connector: Arc<dyn Connector>,
    /// Polls the destination's status of what it took.
    pub follow: Option<Arc<dyn Follow>>,
}

impl Built {
    /// A connector that follows nothing.
    pub fn connector(connector: impl Connector + 'static) -> Self {
        Self {
            connector: Arc::new(connector),
            follow: None,
        }
    }
}

/// A message as a destination receives it, before signing and before the transport's own fields
/// (an EMC report's `SiteId`): what `lienthong mapping render` prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Preview {
    /// A JSON body.
    Json(serde_json::Value),
    /// An XML document.
    Xml(String),
}

/// How a kind renders a message with a mapping set: the one function its connector renders,
/// checks and delivers with, and `lienthong mapping render` previews with.
#[derive(Clone, Copy)]
pub struct Rendering {
    /// Loads the kind's mapping set from a `mappings_dir`, else its built-in files, and checks
    /// that it has what the kind renders.
    ///
    /// Errors: a file is missing or invalid, a mapping the kind needs is absent.
    pub load: fn(Option<&std::path::Path>) -> Result<MappingSet, LoadError>,
    /// Renders a message with a set `load` returned.
    ///
    /// Errors: a kind of message the kind does not take, a field the mapping cannot fill.
    pub render: fn(&MappingSet, &MessageBody) -> Result<Preview, RenderError>,
}

/// What a kind needs of the configuration's other sections, checked once by the gateway with
/// the other cross-section rules.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Needs {
    /// The center's `[signing]` identity: the problem to report when it is absent.
    pub signing: Option<&'static str>,
    /// The trust stores it names (key, store name), each to be a `[trust.<name>]` table.
    pub trust_stores: Vec<(&'static str, String)>,
}

/// A destination kind's configuration (`[destinations.<name>]` less the keys every kind has).
///
/// Its shared endpoint keys (timeouts, `[oauth]`, `mappings_dir`) come from
/// [`crate::endpoint::destination_config!`], through [`EndpointConfig`].
pub trait KindConfig: EndpointConfig + std::fmt::Debug + Send + Sync {
    /// Problems of the table alone, keys relative to it (reads no file; it may look whether a
    /// secret file it names exists).
    fn validate(&self) -> Vec<ConfigProblem>;

    /// The URLs it calls, with their keys.
    fn urls(&self) -> Vec<(&'static str, &str)>;

    /// The secret files it names, with their keys (their permissions are checked); by default
    /// its `[oauth]` table's `client_secret_file`.
    fn secret_files(&self) -> Vec<(&'static str, PathBuf)> {
        oauth_secret_file(self.endpoint().oauth)
    }

    /// Its keys that a reload cannot apply, each with its value as it prints (compared between
    /// the running and the reloaded configuration): what the gateway reads once at start-up
    /// rather than from the rebuilt connector (NBRS's polling pace). Empty by default: every
    /// key of a kind is applied by a reload (the connector is rebuilt from them).
    fn restart_only(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// What it needs of other sections (`[signing]`, `[trust.<name>]`).
    fn needs(&self) -> Needs {
        Needs::default()
    }

    /// The mapping set of a kind that renders with mappings but has no [`Rendering`] of its
    /// own (a peer's fixed edXML set); a kind with a rendering is loaded by its
    /// [`Rendering::load`] over its `mappings_dir` (see [`mapping_set`]). `None` for a kind that
    /// sends the canonical JSON unmapped.
    ///
    /// Errors: a mapping file is missing or invalid.
    fn fixed_mappings(&self) -> Option<Result<MappingSet, LoadError>> {
        None
    }

    /// How the kind renders with its mappings; `None` for a kind with no mapping rendering of
    /// its own (a webhook sends the canonical JSON; a peer's edXML needs an envelope, previewed
    /// with `mapping render --destination edxml`).
    fn rendering() -> Option<Rendering>
    where
        Self: Sized,
    {
        None
    }

    /// Builds its connector (reads the secret files it names).
    ///
    /// Errors: configuration problems, an unreadable secret, the mappings, the HTTP client.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Built, BuildError>;
}

/// The mapping set a destination of kind `K` renders with: its rendering's `load` over its
/// `mappings_dir` (else the built-in files), or the kind's [`KindConfig::fixed_mappings`]; `None`
/// for a kind that renders with no mappings.
///
/// Errors: a mapping file is missing or invalid, a mapping the kind needs is absent.
pub fn mapping_set<K: KindConfig>(config: &K) -> Option<Result<MappingSet, LoadError>> {
    match K::rendering() {
        Some(rendering) => Some((rendering.load)(config.endpoint().mappings_dir)),
        None => config.fixed_mappings(),
    }
}

/// The `oauth.client_secret_file` of an `[oauth]` table, as a secret file of a kind.
pub fn oauth_secret_file(
    oauth: Option<&crate::oauth::OAuthConfig>,
) -> Vec<(&'static str, PathBuf)> {
    let Some(o) = oauth else {
        return Vec::new();
    };
    [
        ("oauth.client_secret_file", &o.client_secret_file),
        ("oauth.lgsp_credentials_file", &o.lgsp_credentials_file),
        ("oauth.platform_key_file", &o.platform_key_file),
    ]
    .into_iter()
    .filter_map(|(k, f)| f.clone().map(|f| (k, f)))
    .collect()
}

/// The URLs of a kind that calls one endpoint, maybe behind an `[oauth]` token endpoint.
pub fn endpoint_urls<'a>(
    endpoint: (&'static str, &'a str),
    oauth: Option<&'a crate::oauth::OAuthConfig>,
) -> Vec<(&'static str, &'a str)> {
    std::iter::once(endpoint)
        .chain(oauth.map(|o| ("oauth.token_url", o.token_url.as_str())))
        .collect()
}
