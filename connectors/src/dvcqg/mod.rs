//! The National Public Service Portal (Cổng Dịch vụ công Quốc gia, DVCQG).
//!
//! Dossiers go out as `HoSo` (mapping `hoso`), status events as `QuaTrinhXuLy` progress entries
//! (mapping `tien-do`), over one of two transports (`session` or `lgsp`, see the format notes §1).
//! The first sync of a dossier looks it up (`TraCuuHoSo`, session transport) to set `isUpdating`;
//! an "already exists" answer to a create is resent as an update; progress entries go in batches
//! of at most [`MAX_PROGRESS_BATCH`].

mod classify;
pub mod config;
mod lgsp;
pub mod push;
mod session;

use async_trait::async_trait;
use lienthong_certs::Secret;
use lienthong_mappings::engine::InputKind;
use lienthong_mappings::{MappingSet, RenderError};
use serde_json::Value;
use tokio::sync::Mutex;

use self::classify::{Rules, Verdict};
pub use self::config::{DvcqgConfig, Transport};
use crate::http::OutboundSecurity;
use crate::{BuildError, Connector, DossierOp, MessageBody, MessageKind, OutboundMessage, Outcome};

/// The portal takes at most this many progress entries per call (observed).
pub const MAX_PROGRESS_BATCH: usize = 10;
/// Mapping rendering a dossier.
pub const HOSO_MAPPING: &str = "hoso";
/// Mapping rendering a progress entry.
pub const PROGRESS_MAPPING: &str = "tien-do";

enum Link {
    Session(session::SessionClient),
    Lgsp(lgsp::LgspClient),
}

/// A configured DVCQG destination.
pub struct DvcqgConnector {
    mappings: MappingSet,
    link: Link,
}

/// The DVCQG mapping set: the kind's built-in files (`mappings/specs/dvcqg/`), compiled into the binary; an
/// operator overrides them with a directory of edited copies (`mappings_dir`) where the kind
/// takes one.
pub const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "codes.toml",
        include_str!("../../../mappings/specs/dvcqg/codes.toml"),
    ),
    (
        "hoso.toml",
        include_str!("../../../mappings/specs/dvcqg/hoso.toml"),
    ),
    (
        "tien-do.toml",
        include_str!("../../../mappings/specs/dvcqg/tien-do.toml"),
    ),
];

/// Loads the mapping set of a DVCQG destination: `mappings_dir` when configured, else built-in.
///
/// Errors: the files have problems, or lack the `hoso` / `tien-do` mappings.
pub fn load_mappings(
    mappings_dir: Option<&std::path::Path>,
) -> Result<MappingSet, lienthong_mappings::LoadError> {
    MappingSet::for_kind(
        "dvcqg",
        mappings_dir,
        BUILTIN_MAPPINGS,
        &[
            (HOSO_MAPPING, InputKind::Dossier),
            (PROGRESS_MAPPING, InputKind::Progress),
        ],
    )
}

/// A message as the portal receives it: a dossier as `HoSo`, a status event as a
/// `QuaTrinhXuLy` entry.
///
/// Errors: a notice (not sent to the portal), a field the mapping cannot fill.
pub fn render(mappings: &MappingSet, body: &MessageBody) -> Result<Value, RenderError> {
    let (mapping, input) = match body {
        MessageBody::Dossier { dossier, .. } => (
            HOSO_MAPPING,
            crate::message::mapping_input(HOSO_MAPPING, dossier)?,
        ),
        MessageBody::Progress(p) => (
            PROGRESS_MAPPING,
            crate::message::mapping_input(PROGRESS_MAPPING, p)?,
        ),
        MessageBody::Notice(_) => return Err(crate::message::unsupported("dvcqg", body)),
    };
    mappings.render(mapping, &input)
}

fn secret(
    inline: &Option<Secret>,
    file: &Option<std::path::PathBuf>,
) -> Result<Secret, BuildError> {
    match (inline, file) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(f)) => Ok(Secret::from_file(f)?),
        (None, None) => Err(BuildError::Config(vec![crate::ConfigProblem::new(
            "password", "missing",
        )])),
    }
}

fn optional_secret(
    inline: &Option<Secret>,
    file: &Option<std::path::PathBuf>,
) -> Result<Option<Secret>, BuildError> {
    match (inline, file) {
        (Some(s), _) => Ok(Some(s.clone())),
        (None, Some(f)) => Ok(Some(Secret::from_file(f)?)),
        (None, None) => Ok(None),
    }
}

fn required(v: &Option<String>, key: &str) -> Result<String, BuildError> {
    v.clone()
        .ok_or_else(|| BuildError::Config(vec![crate::ConfigProblem::new(key, "missing")]))
}

fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

impl DvcqgConnector {
    /// Builds the connector from a configuration the gateway has validated ([`crate::KindConfig::validate`]): reads credential files, loads the
    /// mappings (its `mappings_dir`, else the built-in set) and builds the HTTP client, with the
    /// system's trust roots. Nothing is sent until the first delivery.
    ///
    /// Errors: configuration problems, unreadable credential files, bad mappings.
    pub fn new(config: &DvcqgConfig) -> Result<Self, BuildError> {
        let mappings = load_mappings(config.mappings_dir.as_deref())?;
        Self::with_security(config, &OutboundSecurity::default(), mappings)
    }

    /// Like [`DvcqgConnector::new`], with the destination's own trust store, client identity
    /// and request signer, rendering with `mappings` (from [`load_mappings`]).
    ///
    /// Errors: configuration problems, unreadable credential files.
    pub fn with_security(
        config: &DvcqgConfig,
        security: &OutboundSecurity,
        mappings: MappingSet,
    ) -> Result<Self, BuildError> {
        let client = crate::http::client(config.connect_timeout, config.timeout, security)?;
        let via = security.via();
        let rules = Rules {
            exists_markers: config.already_exists_markers.clone(),
            retry_codes: config.retry_error_codes.clone(),
        };
        let link = match config.transport {
            Transport::Session => {
                let base = required(&config.base_url, "base_url")?;
                Link::Session(session::SessionClient {
                    client,
                    via,
                    auth_url: join_url(&base, &config.auth_path),
                    service_url: join_url(&base, &config.integration_path),
                    username: required(&config.username, "username")?,
                    password: secret(&config.password, &config.password_file)?,
                    madonvi: required(&config.madonvi, "madonvi")?,
                    dstcode: config.dstcode.clone(),
                    rules,
                    session: Mutex::new(None),
                })
            }
            Transport::Lgsp => Link::Lgsp(lgsp::LgspClient {
                tokens: crate::oauth::TokenSource::new(
                    client.clone(),
                    via,
                    required(&config.token_url, "token_url")?,
                    crate::oauth::Credential::load(
                        config.access,
                        config.client_id.as_deref().unwrap_or_default(),
                        optional_secret(&config.client_secret, &config.client_secret_file)?,
                        config.lgsp_credentials_file.as_deref(),
                        config.platform_key_file.as_deref(),
                    )?,
                    config.token_margin,
                ),
                client,
                create_url: required(&config.create_url, "create_url")?,
                update_url: required(&config.update_url, "update_url")?,
                progress_url: required(&config.progress_url, "progress_url")?,
                rules,
            }),
        };
        Ok(Self { mappings, link })
    }

    async fn deliver_dossier(&self, op: DossierOp, code: &str, hoso: Value) -> Outcome {
        match &self.link {
            Link::Session(s) => {
                let mut updating = match op {
                    DossierOp::Update => true,
                    DossierOp::Create => match s.exists(code).await {
                        Ok(found) => found,
                        Err(o) => return o,
                    },
                };
                for _ in 0..2 {
                    match s.sync(updating, &hoso).await {
                        Verdict::AlreadyExists(_) if !updating => {
                            tracing::info!(
                                dossier = code,
                                "DVCQG: already exists, resending as update"
                            );
                            updating = true;
                        }
                        v => return settle(v),
                    }
                }
                Outcome::retry("DVCQG answered 'already exists' to an update")
            }
            Link::Lgsp(l) => {
                let v = match op {
                    DossierOp::Create => l.create(&hoso).await,
                    DossierOp::Update => l.update(&hoso).await,
                };
                match v {
                    Verdict::AlreadyExists(_) if op == DossierOp::Create => {
                        tracing::info!(dossier = code, "LGSP: already exists, resending as update");
                        settle(l.update(&hoso).await)
                    }
                    v => settle(v),
                }
            }
        }
    }

    async fn deliver_progress(&self, entries: Vec<Value>) -> Outcome {
        let v = match &self.link {
            Link::Session(s) => s.progress(entries).await,
            Link::Lgsp(l) => l.progress(entries).await,
        };
        match v {
            // A retried batch the portal already recorded.
            Verdict::AlreadyExists(answer) => Outcome::Delivered {
                http_status: Some(200),
                portal: Some(answer),
            },
            v => settle(v),
        }
    }
}

/// The final verdict of an exchange as an outcome.
fn settle(v: Verdict) -> Outcome {
    match v {
        Verdict::Ok(status, body) => Outcome::Delivered {
            http_status: Some(status),
            portal: classify::error_code(&body).map(|code| crate::PortalAnswer {
                reference: None,
                code,
                message: body
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
        },
        Verdict::AlreadyExists(answer) => Outcome::Reject {
            error: format!("portal error {}: {}", answer.code, answer.message),
            http_status: Some(200),
            portal: Some(answer),
        },
        Verdict::AuthExpired => Outcome::retry("authentication refused"),
        Verdict::Failed(o) => o,
    }
}

#[async_trait]
impl Connector for DvcqgConnector {
    fn kind(&self) -> &'static str {
        "dvcqg"
    }

    fn batch_limit(&self, kind: MessageKind) -> usize {
        match kind {
            MessageKind::Progress => MAX_PROGRESS_BATCH,
            MessageKind::Dossier | MessageKind::Notice => 1,
        }
    }

    fn check(&self, body: &MessageBody) -> Result<(), RenderError> {
        self.render(body).map(drop)
    }

    fn render(&self, body: &MessageBody) -> Result<Value, RenderError> {
        render(&self.mappings, body)
    }

    async fn healthcheck(&self) -> crate::health::Health {
        match &self.link {
            Link::Session(s) => s.healthcheck().await,
            Link::Lgsp(l) => crate::health::Health {
                reach: crate::health::reach(&l.tokens.client(), &l.create_url, l.tokens.via())
                    .await,
                auth: Some(crate::health::auth_result(
                    "token request",
                    l.tokens.token().await,
                )),
            },
        }
    }

    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome {
        let Some(first) = batch.first() else {
            return Outcome::reject("empty batch");
        };
        match &first.body {
            MessageBody::Dossier { op, dossier } => match self.render(&first.body) {
                Ok(hoso) => self.deliver_dossier(*op, &dossier.code, hoso).await,
                Err(e) => Outcome::reject(format!("cannot render: {e}")),
            },
            MessageBody::Progress(_) => {
                let mut entries = Vec::with_capacity(batch.len());
                for m in batch.iter().take(MAX_PROGRESS_BATCH) {
                    match self.render(&m.body) {
                        Ok(v) => entries.push(v),
                        Err(e) => return Outcome::reject(format!("cannot render: {e}")),
                    }
                }
                self.deliver_progress(entries).await
            }
            MessageBody::Notice(_) => Outcome::reject("DVCQG does not take notices"),
        }
    }
}

#[cfg(test)]
mod tests;

impl crate::kind::KindConfig for DvcqgConfig {
    fn validate(&self) -> Vec<crate::ConfigProblem> {
        DvcqgConfig::validate(self)
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        [
            ("base_url", &self.base_url),
            ("token_url", &self.token_url),
            ("create_url", &self.create_url),
            ("update_url", &self.update_url),
            ("progress_url", &self.progress_url),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    fn secret_files(&self) -> Vec<(&'static str, std::path::PathBuf)> {
        [
            ("password_file", &self.password_file),
            ("client_secret_file", &self.client_secret_file),
            ("lgsp_credentials_file", &self.lgsp_credentials_file),
            ("platform_key_file", &self.platform_key_file),
        ]
        .into_iter()
        .filter_map(|(k, f)| f.clone().map(|f| (k, f)))
        .collect()
    }

    fn rendering() -> Option<crate::kind::Rendering> {
        Some(crate::kind::Rendering {
            load: load_mappings,
            render: |set, body| render(set, body).map(crate::kind::Preview::Json),
        })
    }

    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        Ok(crate::kind::Built::connector(
            DvcqgConnector::with_security(self, ctx.outbound, ctx.mappings(self)?)?,
        ))
    }
}
