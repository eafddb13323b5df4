//! The National Investment Information System (Hệ thống thông tin quốc gia về đầu tư).
//!
//! No public interface exists (format notes §5); Lienthong's **provisional profile**:
//! - a registration is the XML of the mapping `dang-ky-dau-tu` (project, investors with identity
//!   and nationality, location, objectives, total and contributed capital, schedule), signed
//!   with the center's certificate (XML-DSig, enveloped, exclusive C14N, last child of the root)
//!   and posted as `application/xml`; the answer `{"MaLoi": "0", "MoTa", "SoTiepNhan"}` takes
//!   it (another `MaLoi` is invalid data: dead with the message);
//! - the decision comes back later as a signed result pushed to `POST /v1/callbacks/investment`
//!   ([`result`]): project code (mã số dự án) and certificate number, or a refusal.
//!
//! The system takes only dossiers: the center's status events are not sent to it.

mod classify;
pub mod config;
pub mod result;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use lienthong_certs::xmldsig::{self, SignOptions, Signer};
use lienthong_mappings::engine::InputKind;
use lienthong_mappings::{MappingSet, RenderError};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

pub use self::config::InvestmentConfig;
use crate::http::OutboundSecurity;
use crate::oauth::Caller;
use crate::{BuildError, Connector, MessageBody, MessageKind, OutboundMessage, Outcome};

/// Mapping rendering a registration.
pub const REGISTRATION_MAPPING: &str = "dang-ky-dau-tu";

/// The registration XML as the `dang-ky-dau-tu` mapping writes it, before it is signed.
///
/// Errors: not a dossier (the system takes nothing else), a field the mapping cannot fill.
pub fn render(mappings: &MappingSet, body: &MessageBody) -> Result<String, RenderError> {
    let MessageBody::Dossier { dossier, .. } = body else {
        return Err(crate::message::unsupported("investment", body));
    };
    let input = crate::message::mapping_input(REGISTRATION_MAPPING, dossier)?;
    mappings.render_xml(REGISTRATION_MAPPING, &input)
}

/// The investment mapping set (investment registration; provisional signed-XML profile): the kind's built-in files (`mappings/specs/investment/`), compiled into the binary; an
/// operator overrides them with a directory of edited copies (`mappings_dir`) where the kind
/// takes one.
pub const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "codes.toml",
        include_str!("../../../mappings/specs/investment/codes.toml"),
    ),
    (
        "dang-ky-dau-tu.toml",
        include_str!("../../../mappings/specs/investment/dang-ky-dau-tu.toml"),
    ),
];

/// Loads the mapping set of an investment destination (`mappings_dir`, else built-in).
///
/// Errors: the files have problems, or lack `dang-ky-dau-tu` (or it does not write XML).
pub fn load_mappings(
    mappings_dir: Option<&std::path::Path>,
) -> Result<MappingSet, lienthong_mappings::LoadError> {
    let set = MappingSet::for_kind(
        "investment",
        mappings_dir,
        BUILTIN_MAPPINGS,
        &[(REGISTRATION_MAPPING, InputKind::Dossier)],
    )?;
    let m = set.require(REGISTRATION_MAPPING, InputKind::Dossier)?;
    if m.xml().is_none() {
        return Err(lienthong_mappings::LoadError(vec![
            lienthong_mappings::engine::SpecError {
                file: format!("{}/{REGISTRATION_MAPPING}.toml", set.origin()),
                line: 1,
                message: "the registration must be XML: add an [xml] table".into(),
            },
        ]));
    }
    Ok(set)
}

/// A configured investment destination.
pub struct InvestmentConnector {
    url: String,
    caller: Caller,
    mappings: MappingSet,
    xml_signer: Arc<Signer>,
}

impl InvestmentConnector {
    /// Builds the connector; registrations are signed by `xml_signer` (the center's identity).
    ///
    /// Errors: configuration problems, an unreadable secret file, bad mappings.
    pub fn new(
        config: &InvestmentConfig,
        security: &OutboundSecurity,
        xml_signer: Arc<Signer>,
        mappings: MappingSet,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            url: config.url.clone(),
            caller: Caller::new(
                config.oauth.as_ref(),
                config.connect_timeout,
                config.timeout,
                security,
            )?,
            mappings,
            xml_signer,
        })
    }

    /// The registration as sent: rendered and signed (off the runtime).
    ///
    /// Errors: the dossier cannot be rendered or signing failed (a reject); the signing key is
    /// on a token that is away for now (a retry).
    pub async fn signed_registration(&self, body: &MessageBody) -> Result<String, Outcome> {
        let xml = render(&self.mappings, body)
            .map_err(|e| Outcome::reject(format!("cannot render: {e}")))?;
        crate::signing::sign_xml(&self.xml_signer, xml, |xml, signer| {
            xmldsig::sign(xml, signer, &SignOptions::default())
        })
        .await
    }
}

#[async_trait]
impl Connector for InvestmentConnector {
    fn kind(&self) -> &'static str {
        "investment"
    }

    fn takes(&self, kind: MessageKind) -> bool {
        kind == MessageKind::Dossier
    }

    fn check(&self, body: &MessageBody) -> Result<(), RenderError> {
        render(&self.mappings, body).map(drop)
    }

    fn render(&self, body: &MessageBody) -> Result<Value, RenderError> {
        render(&self.mappings, body).map(Value::String)
    }

    async fn healthcheck(&self) -> crate::health::Health {
        self.caller.healthcheck(&self.url).await
    }

    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome {
        let Some(m) = batch.first() else {
            return Outcome::reject("empty batch");
        };
        let xml = match self.signed_registration(&m.body).await {
            Ok(x) => x,
            Err(o) => return o,
        };
        let build = |c: &reqwest::Client| {
            c.post(&self.url)
                .header(CONTENT_TYPE, "application/xml; charset=utf-8")
                .header("idempotency-key", &m.id)
                .body(xml.clone())
        };
        let answer = self.caller.send(build).await;
        let (status, headers, text) = match answer {
            Ok(a) => a,
            Err(o) => return o,
        };
        classify::answer(status, &headers, &text)
    }
}

impl crate::kind::KindConfig for InvestmentConfig {
    fn validate(&self) -> Vec<crate::ConfigProblem> {
        InvestmentConfig::validate(self)
    }

    fn needs(&self) -> crate::kind::Needs {
        crate::kind::Needs {
            signing: Some("an investment destination signs its registrations: add [signing]"),
            trust_stores: Vec::new(),
        }
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        crate::kind::endpoint_urls(("url", &self.url), self.oauth.as_ref())
    }

    fn rendering() -> Option<crate::kind::Rendering> {
        Some(crate::kind::Rendering {
            load: load_mappings,
            render: |set, body| render(set, body).map(crate::kind::Preview::Xml),
        })
    }

    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        let signer = ctx.require_signer("an investment destination")?;
        Ok(crate::kind::Built::connector(InvestmentConnector::new(
            self,
            ctx.outbound,
            signer,
            ctx.mappings(self)?,
        )?))
    }
}
