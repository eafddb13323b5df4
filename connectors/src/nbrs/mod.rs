//! The National Business Registration System (Hệ thống thông tin quốc gia về đăng ký doanh
//! nghiệp, "NBRS"), reached through the integration platform with a Bearer token.
//!
//! - **Submission** (provisional profile — NBRS publishes none): an enterprise-registration
//!   dossier is rendered by the mapping `dang-ky` and posted to `submit_path`; the answer
//!   `{"Status": "1", "IN_JOURNAL_NO"}` gives the receipt number kept on the delivery
//!   ([`crate::PortalAnswer::reference`]) so the gateway can follow the registration; `Status`
//!   "0" is invalid data (dead, with NBRS's `Message`).
//! - **Status** ([`NbrsConnector::status`]): `tinhTrangHoSo?in_journal_no=` read by the gateway's
//!   poller; `PROCESS_STATUS` becomes a canonical status through the `process_status` code table
//!   (read backwards: NBRS code → canonical status).
//! - **Lookup** ([`NbrsConnector::enterprise`]): `chiTietDoanhNghiep?msdn=`, used at intake to
//!   refuse an amendment naming an enterprise NBRS does not know.
//!
//! NBRS takes only dossiers: the center's status events are not sent to it (NBRS decides them).

mod classify;
pub mod config;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use lienthong_mappings::engine::{InputKind, SpecError};
use lienthong_mappings::{DossierStatus, LoadError, MappingSet, RenderError};
use serde_json::Value;

pub use self::config::{NbrsConfig, PollConfig};
use crate::http::OutboundSecurity;
use crate::oauth::Caller;
use crate::{
    BuildError, Connector, DossierOp, IntakeCheck, MessageBody, MessageKind, OutboundMessage,
    Outcome,
};

/// Mapping rendering a registration.
pub const SUBMIT_MAPPING: &str = "dang-ky";
/// Code table reading `PROCESS_STATUS` back to canonical statuses.
pub const PROCESS_STATUS_TABLE: &str = "process_status";
/// Code table of the `PROCESS_STATUS` codes after which NBRS changes nothing (`code = true`).
pub const FINAL_STATUS_TABLE: &str = "final_status";

/// A registration as NBRS receives it: the `dang-ky` mapping of the dossier, with `CAP_NHAT`
/// set for an amendment (a dossier sent again).
///
/// Errors: not a dossier (NBRS takes nothing else), a field the mapping cannot fill.
pub fn render(mappings: &MappingSet, body: &MessageBody) -> Result<Value, RenderError> {
    let MessageBody::Dossier { op, dossier } = body else {
        return Err(crate::message::unsupported("nbrs", body));
    };
    let input = crate::message::mapping_input(SUBMIT_MAPPING, dossier)?;
    let mut out = mappings.render(SUBMIT_MAPPING, &input)?;
    if let Value::Object(m) = &mut out {
        m.insert("CAP_NHAT".into(), Value::Bool(*op == DossierOp::Update));
    }
    Ok(out)
}

/// The NBRS mapping set (business registration; provisional submission profile): the kind's built-in files (`mappings/specs/nbrs/`), compiled into the binary; an
/// operator overrides them with a directory of edited copies (`mappings_dir`) where the kind
/// takes one.
pub const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "codes.toml",
        include_str!("../../../mappings/specs/nbrs/codes.toml"),
    ),
    (
        "dang-ky.toml",
        include_str!("../../../mappings/specs/nbrs/dang-ky.toml"),
    ),
];

/// Loads the mapping set of an NBRS destination (its `mappings_dir`, else the built-in one) and
/// checks it: the `dang-ky` mapping, and a status table ([`statuses`]) that names canonical
/// statuses.
///
/// Errors: the files have problems, lack `dang-ky`, or the status table names a status that
/// does not exist.
pub fn load_mappings(mappings_dir: Option<&std::path::Path>) -> Result<MappingSet, LoadError> {
    let set = MappingSet::for_kind(
        "nbrs",
        mappings_dir,
        BUILTIN_MAPPINGS,
        &[(SUBMIT_MAPPING, InputKind::Dossier)],
    )?;
    statuses(&set)?;
    Ok(set)
}

/// The status table of a set (NBRS `PROCESS_STATUS` code → canonical status).
///
/// Errors: the table is absent, or names a status that does not exist.
pub fn statuses(set: &MappingSet) -> Result<BTreeMap<String, DossierStatus>, LoadError> {
    let problem = |message: String| {
        LoadError(vec![SpecError {
            file: format!("{}/codes.toml", set.origin()),
            line: 1,
            message,
        }])
    };
    let table = set.tables().get(PROCESS_STATUS_TABLE).ok_or_else(|| {
        problem(format!(
            "missing [tables.{PROCESS_STATUS_TABLE}] (NBRS PROCESS_STATUS → canonical status)"
        ))
    })?;
    let mut statuses = BTreeMap::new();
    for (code, value) in table.entries() {
        let status = value
            .as_str()
            .and_then(DossierStatus::parse)
            .ok_or_else(|| {
                problem(format!(
                    "[tables.{PROCESS_STATUS_TABLE}] {code} = {value}: not a canonical status"
                ))
            })?;
        statuses.insert(code.to_owned(), status);
    }
    Ok(statuses)
}

/// A registration's status as NBRS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationStatus {
    /// `PROCESS_STATUS`, as text.
    pub process_status: String,
    /// The canonical status it means, when the code table lists it.
    pub canonical: Option<DossierStatus>,
    /// Whether NBRS is done with it (listed in `[tables.final_status]`).
    pub is_final: bool,
    /// NBRS's whole answer (enterprise code, plan date…), told to the center.
    pub report: Value,
}

/// A configured NBRS destination.
pub struct NbrsConnector {
    base_url: String,
    submit_path: String,
    status_path: String,
    lookup_path: String,
    caller: Caller,
    mappings: MappingSet,
    statuses: BTreeMap<String, DossierStatus>,
    finals: std::collections::BTreeSet<String>,
    lookup: bool,
    lookup_timeout: Duration,
    poll: PollConfig,
}

impl NbrsConnector {
    /// Builds the connector with the destination's TLS settings and request signer, rendering
    /// and reading statuses with `mappings` (from [`load_mappings`]).
    ///
    /// Errors: configuration problems, an unreadable secret file, a set without a status table.
    pub fn new(
        config: &NbrsConfig,
        security: &OutboundSecurity,
        mappings: MappingSet,
    ) -> Result<Self, BuildError> {
        let caller = Caller::new(
            config.oauth.as_ref(),
            config.connect_timeout,
            config.timeout,
            security,
        )?;
        let statuses = statuses(&mappings)?;
        let finals = mappings
            .tables()
            .get(FINAL_STATUS_TABLE)
            .map(|t| {
                t.entries()
                    .filter(|(_, v)| **v == Value::Bool(true))
                    .map(|(k, _)| k.to_owned())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            submit_path: config.submit_path.clone(),
            status_path: config.status_path.clone(),
            lookup_path: config.lookup_path.clone(),
            caller,
            mappings,
            statuses,
            finals,
            lookup: config.lookup,
            lookup_timeout: config.lookup_timeout,
            poll: config.poll,
        })
    }

    /// `base_url` + `path`, with the query parameters encoded.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, Outcome> {
        let base = format!("{}{path}", self.base_url);
        let url = if query.is_empty() {
            reqwest::Url::parse(&base)
        } else {
            reqwest::Url::parse_with_params(&base, query)
        };
        url.map_err(|e| Outcome::reject(format!("bad NBRS URL {base}: {e}")))
    }

    /// The status of the registration with receipt number `in_journal_no`.
    ///
    /// Errors: the outcome of a failed call (transport, HTTP error, NBRS's `Status` "0", an
    /// answer without `PROCESS_STATUS`).
    pub async fn status(&self, in_journal_no: &str) -> Result<RegistrationStatus, Outcome> {
        let url = self.url(&self.status_path, &[("in_journal_no", in_journal_no)])?;
        let (st, headers, body) = self.caller.send(|c| c.get(url.clone())).await?;
        let (process_status, v) = classify::status(in_journal_no, st, &headers, &body)?;
        Ok(RegistrationStatus {
            canonical: self.statuses.get(&process_status).copied(),
            is_final: self.finals.contains(&process_status),
            process_status,
            report: v,
        })
    }

    /// The enterprise with code `msdn`, or `None` when NBRS does not know it.
    ///
    /// Errors: the outcome of a failed call.
    pub async fn enterprise(&self, msdn: &str) -> Result<Option<Value>, Outcome> {
        let url = self.url(&self.lookup_path, &[("msdn", msdn)])?;
        let (st, headers, body) = self.caller.send(|c| c.get(url.clone())).await?;
        classify::enterprise(st, &headers, &body)
    }
}

#[async_trait]
impl Connector for NbrsConnector {
    fn kind(&self) -> &'static str {
        "nbrs"
    }

    fn takes(&self, kind: MessageKind) -> bool {
        kind == MessageKind::Dossier
    }

    fn check(&self, body: &MessageBody) -> Result<(), RenderError> {
        self.render(body).map(drop)
    }

    fn render(&self, body: &MessageBody) -> Result<Value, RenderError> {
        match body {
            MessageBody::Dossier { .. } => render(&self.mappings, body),
            _ => Err(crate::message::unsupported("nbrs", body)),
        }
    }

    fn checks_at_intake(&self) -> bool {
        true
    }

    async fn verify_at_intake(&self, body: &MessageBody) -> IntakeCheck {
        let MessageBody::Dossier { dossier, .. } = body else {
            return IntakeCheck::Passed;
        };
        let Some(msdn) = dossier
            .business
            .as_ref()
            .and_then(|b| b.enterprise_code.as_deref())
        else {
            return IntakeCheck::Passed;
        };
        if !self.lookup {
            return IntakeCheck::Passed;
        }
        match tokio::time::timeout(self.lookup_timeout, self.enterprise(msdn)).await {
            Ok(Ok(Some(_))) => IntakeCheck::Passed,
            Ok(Ok(None)) => IntakeCheck::Refused {
                field: "business.enterprise_code".into(),
                message: format!("no enterprise {msdn} in the national business registry"),
            },
            Ok(Err(o)) => IntakeCheck::Skipped(o.error().unwrap_or_default().to_owned()),
            Err(_) => IntakeCheck::Skipped(format!(
                "NBRS did not answer within {:?}",
                self.lookup_timeout
            )),
        }
    }

    async fn healthcheck(&self) -> crate::health::Health {
        self.caller.healthcheck(&self.base_url).await
    }

    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome {
        let Some(m) = batch.first() else {
            return Outcome::reject("empty batch");
        };
        let MessageBody::Dossier { .. } = &m.body else {
            return Outcome::reject("NBRS takes only dossiers");
        };
        let registration = match render(&self.mappings, &m.body) {
            Ok(r) => r,
            Err(e) => return Outcome::reject(format!("cannot render: {e}")),
        };
        let url = match self.url(&self.submit_path, &[]) {
            Ok(u) => u,
            Err(o) => return o,
        };
        let (st, headers, body) = match self
            .caller
            .send(|c| {
                c.post(url.clone())
                    .header("idempotency-key", &m.id)
                    .json(&registration)
            })
            .await
        {
            Ok(r) => r,
            Err(o) => return o,
        };
        classify::submission(st, &headers, &body)
    }
}

#[async_trait]
impl crate::follow::Follow for NbrsConnector {
    fn pace(&self) -> crate::follow::PollPace {
        crate::follow::PollPace {
            interval: self.poll.interval,
            rate: self.poll.rate,
            batch: self.poll.batch,
        }
    }

    async fn status_of(&self, reference: &str) -> Result<crate::follow::Followed, Outcome> {
        let s = self.status(reference).await?;
        Ok(crate::follow::Followed {
            code: s.process_status,
            canonical: s.canonical,
            is_final: s.is_final,
            report: s.report,
        })
    }
}

impl crate::kind::KindConfig for NbrsConfig {
    fn validate(&self) -> Vec<crate::ConfigProblem> {
        NbrsConfig::validate(self)
    }

    /// The follow-up poller's pace is taken at start-up.
    fn restart_only(&self) -> Vec<(&'static str, String)> {
        vec![("poll", format!("{:?}", self.poll))]
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        crate::kind::endpoint_urls(("base_url", &self.base_url), self.oauth.as_ref())
    }

    fn rendering() -> Option<crate::kind::Rendering> {
        Some(crate::kind::Rendering {
            load: load_mappings,
            render: |set, body| render(set, body).map(crate::kind::Preview::Json),
        })
    }

    /// NBRS is followed: what it took is polled until its registration is final.
    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        let nbrs =
            std::sync::Arc::new(NbrsConnector::new(self, ctx.outbound, ctx.mappings(self)?)?);
        Ok(crate::kind::Built {
            connector: nbrs.clone(),
            follow: Some(nbrs),
        })
    }
}
