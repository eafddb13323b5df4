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

pub mod config;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use lienthong_mappings::engine::{InputKind, SpecError};
use lienthong_mappings::{DossierStatus, LoadError, MappingSet, RenderError};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub use self::config::{NbrsConfig, PollConfig};
use crate::http::OutboundSecurity;
use crate::oauth::Caller;
use crate::{
    BuildError, Connector, DossierOp, IntakeCheck, MessageBody, MessageKind, OutboundMessage,
    Outcome, PortalAnswer,
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

/// Loads the mapping set of an NBRS destination (its `mappings_dir`, else the built-in one) and
/// its status table (NBRS code → canonical status).
///
/// Errors: the files have problems, lack `dang-ky`, or the status table names a status that
/// does not exist.
pub fn load_mappings(
    mappings_dir: Option<&std::path::Path>,
) -> Result<(MappingSet, BTreeMap<String, DossierStatus>), LoadError> {
    let set = match mappings_dir {
        Some(dir) => MappingSet::from_dir(dir)?,
        None => MappingSet::from_sources("builtin:nbrs", lienthong_mappings::engine::NBRS_FILES)?,
    };
    set.require(SUBMIT_MAPPING, InputKind::Dossier)?;
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
    Ok((set, statuses))
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

/// `Status` of an NBRS answer as text ("1" found / done, "0" not).
fn status_flag(v: &Value) -> Option<String> {
    match v.get("Status")? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn message(v: &Value) -> String {
    v.get("Message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Reads a 2xx JSON answer; anything else is the outcome to report.
fn json_answer(status: StatusCode, headers: &HeaderMap, body: &str) -> Result<Value, Outcome> {
    if !status.is_success() {
        return Err(crate::http::status_error(status, headers, body));
    }
    serde_json::from_str(body).map_err(|_| {
        let snippet: String = body.chars().take(200).collect();
        Outcome::Retry {
            error: format!("unreadable answer (not JSON): {snippet}"),
            http_status: Some(status.as_u16()),
            retry_after: None,
            portal: None,
        }
    })
}

impl NbrsConnector {
    /// Builds the connector with the destination's TLS settings and request signer.
    ///
    /// Errors: configuration problems, an unreadable secret file, bad mappings.
    pub fn new(config: &NbrsConfig, security: &OutboundSecurity) -> Result<Self, BuildError> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(BuildError::Config(problems));
        }
        let caller = Caller::new(
            config.oauth.as_ref(),
            config.connect_timeout,
            config.timeout,
            security,
        )?;
        let (mappings, statuses) = load_mappings(config.mappings_dir.as_deref())?;
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
        let v = json_answer(st, &headers, &body)?;
        if status_flag(&v).as_deref() == Some("0") {
            return Err(Outcome::reject(format!(
                "NBRS has no registration {in_journal_no}: {}",
                message(&v)
            )));
        }
        let process_status = text(&v, "PROCESS_STATUS").ok_or_else(|| {
            Outcome::retry(format!(
                "NBRS answered without PROCESS_STATUS for {in_journal_no}"
            ))
        })?;
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
        let v = json_answer(st, &headers, &body)?;
        match status_flag(&v).as_deref() {
            Some("1") if v.get("MainInformation").is_some_and(Value::is_object) => Ok(Some(v)),
            Some("0") => Ok(None),
            _ => Err(Outcome::retry(format!(
                "unexpected enterprise answer: {}",
                v.to_string().chars().take(200).collect::<String>()
            ))),
        }
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
        let v = match json_answer(st, &headers, &body) {
            Ok(v) => v,
            Err(o) => return o,
        };
        let answer = PortalAnswer {
            code: status_flag(&v).unwrap_or_default(),
            message: message(&v),
            reference: text(&v, "IN_JOURNAL_NO"),
        };
        match (answer.code.as_str(), &answer.reference) {
            ("1", Some(_)) => Outcome::Delivered {
                http_status: Some(st.as_u16()),
                portal: Some(answer),
            },
            ("1", None) => Outcome::Retry {
                error: "NBRS took the registration but gave no IN_JOURNAL_NO".into(),
                http_status: Some(st.as_u16()),
                retry_after: None,
                portal: Some(answer),
            },
            _ => Outcome::Reject {
                error: format!("NBRS refused the registration: {}", answer.message),
                http_status: Some(st.as_u16()),
                portal: Some(answer),
            },
        }
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

    fn urls(&self) -> Vec<(&'static str, &str)> {
        crate::kind::endpoint_urls(("base_url", &self.base_url), self.oauth.as_ref())
    }

    fn secret_files(&self) -> Vec<(&'static str, std::path::PathBuf)> {
        crate::kind::oauth_secret_file(self.oauth.as_ref())
    }

    fn mappings(&self) -> Option<Result<MappingSet, LoadError>> {
        Some(load_mappings(self.mappings_dir.as_deref()).map(|(set, _)| set))
    }

    fn rendering() -> Option<crate::kind::Rendering> {
        Some(crate::kind::Rendering {
            load: |dir| load_mappings(dir).map(|(set, _)| set),
            render: |set, body| render(set, body).map(crate::kind::Preview::Json),
        })
    }

    /// NBRS is followed: what it took is polled until its registration is final.
    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        let nbrs = std::sync::Arc::new(NbrsConnector::new(self, ctx.outbound)?);
        Ok(crate::kind::Built {
            connector: nbrs.clone(),
            follow: Some(nbrs),
        })
    }
}
