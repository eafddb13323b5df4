//! `kind = "peer"`: another center's Lienthong (or another vendor's one-stop system) reached
//! directly, exchanging signed edXML (QCVN 102:2016, liên thông).
//!
//! A dossier becomes an edXML dossier message (BussinessDocType 0 for a new dossier, 2 for an
//! update), a status event an edXML status message; both are rendered by the `edxml` mapping
//! set, signed with the center's XML-DSig identity right after `TraceHeaderList`, and posted to
//! the peer's `/v1/exchange` (over the destination's mutual TLS). Each message carries its own
//! `DocumentId` (built from the message id), so the peer deduplicates a resend.
//!
//! The dossier's files are fetched from their URLs under the gateway's file policy
//! ([`crate::files`]: allowed prefixes and addresses, no redirects, size and time limits,
//! SHA-256 when given) and carried base64 in `AttachmentEncoded`; a file that cannot be fetched
//! fails that message (a dead letter naming the file), it is never sent without it.
//!
//! The canonical dossier also travels, as the attachment `hoso.json`, so a receiving Lienthong
//! stores the whole dossier. Receiving is [`inbound`] (reading and believing) and [`answer`]
//! (the signed status the receiver answers with).

pub mod answer;
pub mod axis;
mod classify;
pub mod config;
pub mod inbound;

use std::sync::Arc;

use async_trait::async_trait;
use lienthong_certs::xmldsig::{self, Placement, SignOptions, Signer};
use lienthong_mappings::engine::InputKind;
use lienthong_mappings::{Agency, ExchangeInput, MappingSet, RenderError};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use self::config::{PeerConfig, Transport, TransportIdentity};
use crate::files::FileFetcher;
use crate::http::OutboundSecurity;
use crate::{BuildError, Connector, DossierOp, MessageBody, MessageKind, OutboundMessage, Outcome};

/// The edXML namespace.
pub const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
/// `ContentId` of the attachment carrying the canonical dossier (JSON).
pub const DOSSIER_DATA_ID: &str = "hoso.json";
/// Its `ContentType`.
pub const DOSSIER_DATA_TYPE: &str = "application/vnd.lienthong.dossier+json";

/// When a UUID v7 message id was made.
fn issued_at(message_id: &str) -> Option<OffsetDateTime> {
    let ts = uuid::Uuid::parse_str(message_id).ok()?.get_timestamp()?;
    let (secs, nanos) = ts.to_unix();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?)
        .ok()
        .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
}

/// Signs an edXML document as the standard places it: enveloped, right after
/// `TraceHeaderList`.
///
/// Errors: the document has no `TraceHeaderList`, or the key fails to sign.
pub fn sign_edxml(xml: &str, signer: &Signer) -> Result<String, xmldsig::DsigError> {
    xmldsig::sign(
        xml,
        signer,
        &SignOptions {
            placement: Placement::After {
                ns: EDXML_NS.into(),
                local: "TraceHeaderList".into(),
            },
            ..SignOptions::default()
        },
    )
}

/// Who sends: the center's agency and its XML-DSig signer.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The center's agency code (`From/OrganId`).
    pub organ_id: String,
    /// The center's name.
    pub organ_name: String,
    /// Signs every message.
    pub signer: Arc<Signer>,
}

/// The peer connector.
pub struct PeerConnector {
    config: PeerConfig,
    sender: Sender,
    client: reqwest::Client,
    /// Signs direct deliveries (RFC 9421) when the destination says `sign_requests`.
    via: crate::http::Via,
    /// Fetches the dossier's files (system roots: they live on the center's own storage).
    files: FileFetcher,
    mappings: MappingSet,
    /// Set with `transport = "axis"`.
    axis: Option<axis::AxisClient>,
}

/// The edXML mapping set (inter-level exchange, QCVN 102:2016/BTTTT): the kind's built-in files (`mappings/specs/edxml/`), compiled into the binary; an
/// operator overrides them with a directory of edited copies (`mappings_dir`) where the kind
/// takes one.
pub const BUILTIN_MAPPINGS: &[(&str, &str)] = &[
    (
        "codes.toml",
        include_str!("../../../mappings/specs/edxml/codes.toml"),
    ),
    (
        "dossier.toml",
        include_str!("../../../mappings/specs/edxml/dossier.toml"),
    ),
    (
        "status.toml",
        include_str!("../../../mappings/specs/edxml/status.toml"),
    ),
];

/// The built-in edXML mapping set a peer renders with, checked for its `dossier` and `status`
/// mappings.
///
/// Errors: the set lacks one of them (a build of this crate with broken built-in files).
pub fn load_mappings() -> Result<MappingSet, lienthong_mappings::LoadError> {
    MappingSet::for_kind(
        "edxml",
        None,
        BUILTIN_MAPPINGS,
        &[
            ("dossier", InputKind::Exchange),
            ("status", InputKind::Exchange),
        ],
    )
}

impl PeerConnector {
    /// Builds the connector, rendering with `mappings` (from [`load_mappings`]).
    ///
    /// Errors: configuration problems, the HTTP client.
    pub fn new(
        config: &PeerConfig,
        sender: Sender,
        security: &OutboundSecurity,
        files: FileFetcher,
        mappings: MappingSet,
    ) -> Result<Self, BuildError> {
        let client = crate::http::client(config.connect_timeout, config.timeout, security)?;
        let axis = match (&config.transport, &config.axis) {
            (Transport::Axis, Some(account)) => Some(axis::AxisClient::new(
                &config.url,
                &sender.organ_id,
                account,
                config.connect_timeout,
                config.timeout,
                security,
            )?),
            _ => None,
        };
        Ok(Self {
            config: config.clone(),
            sender,
            client,
            via: security.via(),
            files,
            mappings,
            axis,
        })
    }

    /// The exchange input of a message; `message_id` makes the `DocumentId` unique.
    fn exchange(
        &self,
        body: &MessageBody,
        message_id: &str,
    ) -> Result<(&'static str, Value), RenderError> {
        let number: String = message_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        // The DocumentId's date is when the message was queued (the UUID v7's time), so a resend
        // after midnight keeps its DocumentId and the peer still recognises it.
        let now = OffsetDateTime::now_utc();
        let issued = issued_at(message_id).unwrap_or(now);
        let mut input = ExchangeInput::envelope(
            Agency {
                code: self.sender.organ_id.clone(),
                name: self.sender.organ_name.clone(),
            },
            Agency {
                code: self.config.organ_id.clone(),
                name: self.config.organ_name.clone(),
            },
            &number,
            &self.config.code_notation,
            issued,
        );
        // The trace hop is this sending, which the receiver checks for freshness.
        for hop in &mut input.trace {
            hop.at = now;
        }
        let name = match body {
            MessageBody::Dossier { op, dossier } => {
                input.business_doc_type = match op {
                    DossierOp::Create => 0,
                    DossierOp::Update => 2,
                };
                input.dossier = Some(dossier.as_ref().clone());
                "dossier"
            }
            MessageBody::Progress(p) => {
                input.status = Some(p.clone());
                "status"
            }
            MessageBody::Notice(_) => return Err(crate::message::unsupported("peer", body)),
        };
        let v = crate::message::mapping_input(name, &input)?;
        Ok((name, v))
    }

    /// Fetches a dossier's files for `AttachmentEncoded` under the gateway's file policy
    /// ([`crate::files`]): each allowed, 2xx, within `max_attachment_bytes` and the message
    /// total, matching its `sha256` when one is given.
    ///
    /// Errors: the outcome to return: a rejection naming the file (a dead letter; the
    /// destination's circuit breaker is not fed by the document store's faults).
    async fn attachments(&self, body: &MessageBody) -> Result<Vec<Value>, Outcome> {
        let MessageBody::Dossier { dossier, .. } = body else {
            return Ok(Vec::new());
        };
        // The canonical dossier travels as `hoso.json`, so a receiving Lienthong (or any system
        // that reads it) gets the whole dossier, not only the header's summary.
        let data = serde_json::to_vec(dossier.as_ref())
            .map_err(|e| Outcome::reject(format!("cannot serialise the dossier: {e}")))?;
        let mut out = vec![json!({
            "content_id": DOSSIER_DATA_ID,
            "content_type": DOSSIER_DATA_TYPE,
            "name": "hoso.json",
            "description": "Dữ liệu hồ sơ (Lienthong canonical dossier)",
            "content": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data),
        })];
        if !self.config.attachments {
            return Ok(out);
        }
        let fetched = self
            .files
            .fetch_all(&dossier.documents, self.config.max_attachment_bytes)
            .await
            .map_err(|e| Outcome::reject(e.to_string()))?;
        for (d, file) in dossier.documents.iter().zip(fetched) {
            out.push(json!({
                "content_id": d.id,
                "content_type": d.media_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
                "name": d.title,
                "description": d.title,
                "content": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &file.bytes),
            }));
        }
        Ok(out)
    }

    /// The edXML document for a message before it is signed.
    ///
    /// Errors: the mapping cannot render the message.
    fn unsigned_document(
        &self,
        body: &MessageBody,
        message_id: &str,
        attachments: Vec<Value>,
    ) -> Result<String, RenderError> {
        let (name, mut input) = self.exchange(body, message_id)?;
        if name == "dossier" {
            input["attachments"] = Value::Array(attachments);
        }
        self.mappings.render_xml(name, &input)
    }

    /// The signed edXML document for a message, with `attachments` in `AttachmentEncoded`.
    ///
    /// Errors: the mapping cannot render the message, or signing fails.
    pub fn document(
        &self,
        body: &MessageBody,
        message_id: &str,
        attachments: Vec<Value>,
    ) -> Result<String, RenderError> {
        let xml = self.unsigned_document(body, message_id, attachments)?;
        sign_edxml(&xml, &self.sender.signer).map_err(|e| RenderError {
            mapping: "edXML".into(),
            target: "Signature".into(),
            input: None,
            message: e.to_string(),
        })
    }
}

#[async_trait]
impl Connector for PeerConnector {
    fn kind(&self) -> &'static str {
        "peer"
    }

    fn batch_limit(&self, _kind: MessageKind) -> usize {
        1
    }

    fn check(&self, body: &MessageBody) -> Result<(), RenderError> {
        let (name, input) = self.exchange(body, "check")?;
        self.mappings.render_xml(name, &input).map(|_| ())
    }

    fn render(&self, body: &MessageBody) -> Result<Value, RenderError> {
        let (name, input) = self.exchange(body, "preview")?;
        self.mappings.render(name, &input)
    }

    async fn healthcheck(&self) -> crate::health::Health {
        match &self.axis {
            Some(axis) => axis.healthcheck().await,
            None => crate::health::Health::reached_or(
                crate::health::reach(&self.client, &self.config.url, &self.via).await,
            ),
        }
    }

    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome {
        let Some(msg) = batch.first() else {
            return Outcome::Delivered {
                http_status: None,
                portal: None,
            };
        };
        let attachments = match self.attachments(&msg.body).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let document = match self.unsigned_document(&msg.body, &msg.id, attachments) {
            Ok(d) => d,
            Err(e) => return Outcome::reject(format!("cannot build the edXML message: {e}")),
        };
        // As `document`, but signed off the runtime; a key on a token that is away is a retry.
        let document =
            match crate::signing::sign_xml(&self.sender.signer, document, sign_edxml).await {
                Ok(d) => d,
                Err(outcome) => return outcome,
            };
        if let Some(axis) = &self.axis {
            let kind = match msg.body {
                MessageBody::Progress(_) => axis::MessageType::Status,
                _ => axis::MessageType::Edoc,
            };
            return axis.send(&self.config.organ_id, kind, document).await;
        }
        // The same way out as every other destination: evidence for the audit log, RFC 9421
        // signing when configured, the answer read within its limit.
        let req = self
            .client
            .post(&self.config.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .body(document);
        let (status, headers, text) = match crate::http::send(req, &self.via).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        classify::answer(status, &headers, &text)
    }
}

#[cfg(test)]
mod tests;

impl crate::kind::KindConfig for PeerConfig {
    fn validate(&self) -> Vec<crate::ConfigProblem> {
        PeerConfig::validate(self)
    }

    /// A peer signs its edXML as the center, and may name the store its senders chain to.
    fn needs(&self) -> crate::kind::Needs {
        crate::kind::Needs {
            signing: Some(
                "a peer destination signs its edXML with the center's [signing] identity; add [signing]",
            ),
            trust_stores: self
                .signature_trust
                .iter()
                .map(|t| ("signature_trust", t.clone()))
                .collect(),
        }
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        vec![("url", self.url.as_str())]
    }

    /// Its axis secret, when reached through the axis.
    fn secret_files(&self) -> Vec<(&'static str, std::path::PathBuf)> {
        self.axis
            .iter()
            .map(|a| ("axis.secret_file", a.secret_file.clone()))
            .collect()
    }

    /// A peer renders with the built-in edXML set.
    fn fixed_mappings(&self) -> Option<Result<MappingSet, lienthong_mappings::LoadError>> {
        Some(load_mappings())
    }

    fn build(&self, ctx: &crate::kind::BuildContext<'_>) -> Result<crate::kind::Built, BuildError> {
        let sender = Sender {
            organ_id: ctx.center_code.to_owned(),
            organ_name: ctx.center_name.to_owned(),
            signer: ctx.require_signer("a peer destination")?,
        };
        let policy = crate::files::FilePolicy::new(ctx.attachments).map_err(BuildError::Config)?;
        let files = FileFetcher::new(policy)?;
        Ok(crate::kind::Built::connector(PeerConnector::new(
            self,
            sender,
            ctx.outbound,
            files,
            ctx.mappings(self)?,
        )?))
    }
}
