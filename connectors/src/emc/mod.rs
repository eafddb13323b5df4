//! The national e-monitoring system of one-stop processing (EMC, hệ thống giám sát, đánh giá
//! giải quyết thủ tục hành chính): every status change of every dossier is reported.
//!
//! Each step is one report (mapping `bao-cao`, fields and enums of the format notes §2), rendered
//! from the status event with the dossier's context (procedure, channel, fees) that the gateway
//! stores with it; a new or refreshed dossier is reported as the step of its current status. The
//! reports of one dossier due together go in one call (a JSON array, at most `batch`), so a
//! dossier that had many steps while EMC was down catches up in few calls. The answer is read as
//! the national portals answer (`{"error_code": 0, "message"}`, assumed: EMC publishes no
//! specification): 0 or an empty 2xx is delivered, another code is invalid data (dead, with
//! EMC's message), 408/429/5xx and transport failures are retried by the dispatcher.

mod classify;
pub mod config;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use lienthong_mappings::engine::InputKind;
use lienthong_mappings::{
    Actor, DossierContext, MappingSet, ProgressInput, RenderError, StatusEvent,
};
use serde_json::Value;

pub use self::config::EmcConfig;
use crate::http::OutboundSecurity;
use crate::oauth::Caller;
use crate::{BuildError, Connector, DossierOp, MessageBody, MessageKind, OutboundMessage, Outcome};

/// Mapping rendering one report.
pub const REPORT_MAPPING: &str = "bao-cao";

/// The EMC mapping set (national e-monitoring of one-stop processing): the kind's built-in files (`mappings/specs/emc/`), compiled into the binary; an
/// operator overrides them with a directory of edited copies (`mappings_dir`) where the kind
/// takes one.
pub const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "codes.toml",
        include_str!("../../../mappings/specs/emc/codes.toml"),
    ),
    (
        "bao-cao.toml",
        include_str!("../../../mappings/specs/emc/bao-cao.toml"),
    ),
];

/// Loads the mapping set of an EMC destination: `mappings_dir` when configured, else built-in.
///
/// Errors: the files have problems, or lack the `bao-cao` mapping.
pub fn load_mappings(
    mappings_dir: Option<&std::path::Path>,
) -> Result<MappingSet, lienthong_mappings::LoadError> {
    MappingSet::for_kind(
        "emc",
        mappings_dir,
        BUILTIN_MAPPINGS,
        &[(REPORT_MAPPING, InputKind::Progress)],
    )
}

/// One report as the `bao-cao` mapping renders it, before the connector adds the `SiteId` of
/// its configuration.
///
/// Errors: a notice (not reported to EMC), a field the mapping cannot fill.
pub fn render(mappings: &MappingSet, body: &MessageBody) -> Result<Value, RenderError> {
    let input = crate::message::mapping_input(REPORT_MAPPING, &step_of(body)?)?;
    mappings.render(REPORT_MAPPING, &input)
}

/// A configured EMC destination.
pub struct EmcConnector {
    url: String,
    site_id: String,
    batch: usize,
    mappings: MappingSet,
    caller: Caller,
}

impl EmcConnector {
    /// Builds the connector with the destination's TLS settings and request signer, rendering
    /// with `mappings` (from [`load_mappings`]).
    ///
    /// Errors: configuration problems, an unreadable secret file.
    pub fn new(
        config: &EmcConfig,
        security: &OutboundSecurity,
        mappings: MappingSet,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            url: config.url.clone(),
            site_id: config.site_id.clone(),
            batch: config.batch,
            mappings,
            caller: Caller::new(
                config.oauth.as_ref(),
                config.connect_timeout,
                config.timeout,
                security,
            )?,
        })
    }

    /// One report as EMC receives it, with `SiteId` from the configuration.
    fn report(&self, body: &MessageBody) -> Result<Value, RenderError> {
        let mut rendered = render(&self.mappings, body)?;
        if let Value::Object(fields) = &mut rendered {
            fields.insert("SiteId".into(), Value::String(self.site_id.clone()));
        }
        Ok(rendered)
    }
}

/// The processing step a message reports: a status event as it is, a dossier as the step of
/// its current status (received when new, updated when refreshed). What the `bao-cao` mapping
/// renders from.
///
/// Errors: a notice (not reported to EMC).
pub fn step_of(body: &MessageBody) -> Result<ProgressInput, RenderError> {
    match body {
        MessageBody::Progress(p) => Ok(p.clone()),
        MessageBody::Dossier { op, dossier } => Ok(ProgressInput {
            dossier_code: dossier.code.clone(),
            event: StatusEvent {
                id: format!("{}-{}", dossier.code, op_name(*op)),
                at: dossier.received_at,
                status: dossier.status,
                actor: Actor {
                    name: dossier.agency.name.clone(),
                    title: None,
                    unit: None,
                },
                note: Some(
                    match op {
                        DossierOp::Create => "Tiếp nhận hồ sơ",
                        DossierOp::Update => "Cập nhật hồ sơ",
                    }
                    .into(),
                ),
                due_at: dossier.due_at,
                exchange: None,
            },
            response_for: None,
            dossier: Some(Box::new(DossierContext::of(dossier))),
        }),
        MessageBody::Notice(_) => Err(crate::message::unsupported("emc", body)),
    }
}

const fn op_name(op: DossierOp) -> &'static str {
    match op {
        DossierOp::Create => "create",
        DossierOp::Update => "update",
    }
}

#[async_trait]
impl Connector for EmcConnector {
    fn kind(&self) -> &'static str {
        "emc"
    }

    fn batch_limit(&self, kind: MessageKind) -> usize {
        match kind {
            MessageKind::Progress => self.batch,
            _ => 1,
        }
    }

    fn check(&self, body: &MessageBody) -> Result<(), RenderError> {
        self.report(body).map(drop)
    }

    fn render(&self, body: &MessageBody) -> Result<Value, RenderError> {
        self.report(body)
    }

    async fn healthcheck(&self) -> crate::health::Health {
        self.caller.healthcheck(&self.url).await
    }

    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome {
        let mut reports = Vec::with_capacity(batch.len());
        for m in batch {
            match self.report(&m.body) {
                Ok(r) => reports.push(r),
                Err(e) => return Outcome::reject(format!("cannot render {}: {e}", m.id)),
            }
        }
        let body = Value::Array(reports);
        let answer = self.caller.send(|c| c.post(&self.url).json(&body)).await;
        match answer {
            Ok((status, headers, text)) => classify::answer(status, &headers, &text),
            Err(o) => o,
        }
    }
}

impl crate::kind::KindConfig for EmcConfig {
    fn validate(&self) -> Vec<crate::ConfigProblem> {
        EmcConfig::validate(self)
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        crate::kind::endpoint_urls(("url", &self.url), self.oauth.as_ref())
    }

    fn rendering() -> Option<crate::kind::Rendering> {
        Some(crate::kind::Rendering {
            load: load_mappings,
            render: |set, body| render(set, body).map(crate::kind::Preview::Json),
        })
    }

    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        Ok(crate::kind::Built::connector(EmcConnector::new(
            self,
            ctx.outbound,
            ctx.mappings(self)?,
        )?))
    }
}
