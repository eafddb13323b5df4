//! Reading an edXML message received from a peer: safe parsing, the sender's signature checked
//! against that peer's trust store, the signer matched to the `From/OrganId` configured for the
//! peer, and the parts the gateway needs (DocumentId, business type, dossier code, statuses,
//! attachments, trace time) extracted. This is the part that decides whether a message is
//! believed; the gateway's `/v1/exchange` and the pull poller store what it returns.
//!
//! The reader reads exactly what the signature covers: every field along its fixed path from
//! the document element (`edXML/edXMLEnvelope/edXMLHeader/MessageHeader/…`,
//! `edXML/AttachmentEncoded/Attachment`), each single field unique, and the `Signature` where
//! QCVN 102:2016 puts it (a child of `edXMLHeader`). A search over the tree would find a forged
//! copy placed inside the `Signature`, which the enveloped transform leaves out of the digest
//! (signature wrapping; `tests/tests/exchange_hostile.rs` tries the variants).

use std::sync::Arc;

use lienthong_certs::trust::TrustStore;
use lienthong_certs::xml::{Document, Limits, NodeId};
use lienthong_certs::xmldsig::{self, DsigError, Expected, VerifyPolicy};
use lienthong_mappings::DossierStatus;
use time::OffsetDateTime;

use super::EDXML_NS;

/// A configured sender: its agency code, the trust store its signing certificates chain to,
/// and the names its signing certificate may carry.
#[derive(Debug, Clone)]
pub struct KnownPeer {
    /// Agency code (`From/OrganId`).
    pub organ_id: String,
    /// Trust store of its signing certificates.
    pub trust: Arc<TrustStore>,
    /// Accepted signer names (the whole subject DN, a CN or a SAN, exactly:
    /// [`lienthong_certs::inspect::names_match`]). Empty: the signer's subject must carry the
    /// organ id as a whole attribute value
    /// ([`lienthong_certs::inspect::CertificateInfo::carries_code`]).
    pub signers: Vec<String>,
}

impl KnownPeer {
    /// Whether `cert` names this peer: one of `signers` (whole DN, a CN or a SAN), or, without
    /// them, `organ_id` as a whole attribute value of its subject. The rule for its document
    /// signer, and for its TLS client certificate under `transport_identity = "same-as-signer"`.
    pub fn is_named_by(&self, cert: &lienthong_certs::inspect::CertificateInfo) -> bool {
        if self.signers.is_empty() {
            cert.carries_code(&self.organ_id)
        } else {
            self.signers.iter().any(|s| cert.subject_matches(s))
        }
    }
}

/// Why a received message is refused, with the HTTP status the exchange endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Not acceptable XML or not edXML: 400, naming the element.
    #[error("malformed edXML: {0}")]
    Malformed(String),
    /// `From/OrganId` is not a configured peer: 403.
    #[error("unknown sender {0}")]
    UnknownPeer(String),
    /// The signature is missing or invalid, or the signer is not trusted: 401.
    #[error("signature refused: {0}")]
    BadSignature(String),
    /// The signer is trusted but is not the sending agency: 403.
    #[error("the message is signed by {signer}, not by {organ_id}")]
    WrongSigner {
        /// The signer's subject.
        signer: String,
        /// The agency the message claims to come from.
        organ_id: String,
    },
    /// A genuine dossier message addressed to another center (a copy replayed here): 400.
    #[error("the message is addressed to {}, not to this center ({organ_id})", to.join(", "))]
    NotAddressed {
        /// Its `To/OrganId` values.
        to: Vec<String>,
        /// This center's agency code.
        organ_id: String,
    },
}

impl InboundError {
    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::NotAddressed { .. } => 400,
            Self::BadSignature(_) => 401,
            Self::UnknownPeer(_) | Self::WrongSigner { .. } => 403,
        }
    }
}

/// What was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The sender's agency code.
    pub from: String,
    /// `DocumentId` (the deduplication key).
    pub document_id: String,
    /// `BussinessDocType` of a dossier message (0 new, 1 revoke, 2 update, 3 replace).
    pub business_doc_type: Option<u8>,
    /// `StatusCode` of a status message.
    pub status_code: Option<String>,
    /// The dossier code (`ReferenceCodes`, or `ResponseFor/Code` of a status).
    pub dossier_code: String,
    /// The sender's name (`From/OrganName`).
    pub from_name: String,
    /// When the sender sent it: the last `TraceHeader/Timestamp` (Vietnam time).
    pub sent_at: Option<OffsetDateTime>,
    /// `Subject` of a dossier message.
    pub subject: Option<String>,
    /// `OtherInfo/ProcedureCode` of a dossier message.
    pub procedure_code: Option<String>,
    /// `Description` of a status message (the reason of a refusal).
    pub description: Option<String>,
    /// `StaffInfo/Staff` of a status message.
    pub staff: Option<String>,
    /// `Timestamp` of a status message.
    pub status_at: Option<OffsetDateTime>,
    /// Attachments, in document order.
    pub attachments: Vec<ReceivedAttachment>,
    /// The signer's subject.
    pub signer: String,
    /// SHA-256 (hex) of the signer's certificate, for the audit log.
    pub signer_certificate_sha256: String,
    /// The signer's certificate as its trust store validated it: what an OCSP check of the
    /// peer's trust store asks about ([`lienthong_certs::revocation`]).
    pub signed_by: lienthong_certs::trust::VerifiedSigner,
    /// The base64 `SignatureValue`, for the audit log.
    pub signature_value: String,
}

/// A file carried in `AttachmentEncoded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAttachment {
    /// `ContentId`.
    pub content_id: String,
    /// `ContentType`.
    pub content_type: String,
    /// `AttachmentName`.
    pub name: String,
    /// `ContentTransferEncoded`, base64 without whitespace.
    pub content: String,
}

impl ReceivedAttachment {
    /// The decoded size and SHA-256 (hex), decoded piece by piece so a large file is never held
    /// decoded in memory beside its base64 text.
    ///
    /// Errors: the content is not base64 (names the attachment).
    pub fn size_and_sha256(&self) -> Result<(usize, String), InboundError> {
        // A multiple of 4 characters decodes on its own (padding only in the last piece).
        const PIECE: usize = 4 * 16 * 1024;
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut size = 0;
        let mut buf = Vec::with_capacity(PIECE / 4 * 3);
        for piece in self.content.as_bytes().chunks(PIECE) {
            buf.clear();
            base64::Engine::decode_vec(&base64::engine::general_purpose::STANDARD, piece, &mut buf)
                .map_err(|e| {
                    InboundError::Malformed(format!(
                        "Attachment {}: ContentTransferEncoded is not base64 ({e})",
                        self.content_id
                    ))
                })?;
            size += buf.len();
            ctx.update(&buf);
        }
        let hex = ctx
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((size, hex))
    }

    /// The decoded bytes.
    ///
    /// Errors: the content is not base64 (names the attachment).
    pub fn bytes(&self) -> Result<Vec<u8>, InboundError> {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &self.content).map_err(
            |e| {
                InboundError::Malformed(format!(
                    "Attachment {}: ContentTransferEncoded is not base64 ({e})",
                    self.content_id
                ))
            },
        )
    }
}

impl Inbound {
    /// The canonical dossier carried as `hoso.json` by a Lienthong sender, if any.
    pub fn dossier_data(&self) -> Option<&ReceivedAttachment> {
        self.attachments
            .iter()
            .find(|a| a.content_id == super::DOSSIER_DATA_ID)
    }

    /// The key a resend of the same message has, for deduplication: the `DocumentId` of a
    /// dossier message; for a status message (which has no id of its own) the answered
    /// document, the status code, its time and a digest of its description.
    pub fn dedupe_key(&self) -> String {
        match &self.status_code {
            None => self.document_id.clone(),
            Some(code) => {
                let at = self
                    .status_at
                    .map(|t| t.unix_timestamp().to_string())
                    .unwrap_or_default();
                let text = format!(
                    "{}\n{}",
                    self.description.as_deref().unwrap_or_default(),
                    self.staff.as_deref().unwrap_or_default()
                );
                let digest = lienthong_certs::sha256_hex(text.as_bytes());
                let short = &digest[..16];
                format!("status:{}:{code}:{at}:{short}", self.document_id)
            }
        }
    }
}

/// The canonical status an edXML `StatusCode` moves a dossier to (`None`: recorded only: 01
/// received, 15 and 16 the axis's own acknowledgements): the peer kind's table, read by the
/// gateway when another center reports on a dossier.
///
/// Errors: a code the standard does not define.
pub fn canonical_status(code: &str) -> Result<Option<DossierStatus>, InboundError> {
    Ok(match code {
        "01" | "15" | "16" => None,
        "02" => Some(DossierStatus::Rejected),
        "03" => Some(DossierStatus::Accepted),
        "04" | "05" => Some(DossierStatus::Processing),
        "06" => Some(DossierStatus::Processed),
        "13" => Some(DossierStatus::Withdrawn),
        other => {
            return Err(InboundError::Malformed(format!(
                "StatusCode {other} is not an edXML status (01-06, 13, 15, 16)"
            )));
        }
    })
}

/// Parses an edXML time (`yyyy/MM/dd HH:mm:ss`, Vietnam time).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]/[month]/[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text.trim(), format)
        .ok()
        .map(|t| t.assume_offset(lienthong_mappings::engine::VIETNAM_OFFSET))
}

fn malformed(what: &str) -> InboundError {
    InboundError::Malformed(format!("missing or empty element {what}"))
}

/// The edXML elements along their fixed paths. A reader of a signed document must read exactly
/// what the signature covers, so it never *searches* the tree (a search finds whatever comes
/// first, including a forged copy inside the `Signature`, which the enveloped transform leaves
/// out of the digest): each step is a child of the previous one, and a step that must be unique
/// is refused when it is not.
struct Paths<'a> {
    doc: &'a Document,
}

impl<'a> Paths<'a> {
    /// The only child `edXML:{local}` of `parent`: `None` when absent, an error when repeated.
    fn only(&self, parent: NodeId, local: &str) -> Result<Option<NodeId>, InboundError> {
        let mut found = self.all(parent, local);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some(n), None) => Ok(Some(n)),
            (Some(_), Some(_)) => Err(InboundError::Malformed(format!(
                "element {local} appears more than once in {}",
                self.name(parent)
            ))),
        }
    }

    /// The only child `edXML:{local}` of `parent`, which must exist.
    fn one(&self, parent: NodeId, local: &str) -> Result<NodeId, InboundError> {
        self.only(parent, local)?.ok_or_else(|| {
            InboundError::Malformed(format!("missing element {local} in {}", self.name(parent)))
        })
    }

    /// Every child `edXML:{local}` of `parent`, in document order.
    fn all(&self, parent: NodeId, local: &'a str) -> impl Iterator<Item = NodeId> + 'a {
        self.doc
            .child_elements(parent)
            .filter(move |(_, e)| e.is(EDXML_NS, local))
            .map(|(n, _)| n)
    }

    /// The trimmed text of the only child `edXML:{local}` of `parent`, when present and not
    /// empty.
    fn text(&self, parent: NodeId, local: &str) -> Result<Option<String>, InboundError> {
        Ok(self
            .only(parent, local)?
            .map(|n| self.doc.text(n).trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    /// Like [`Paths::text`], but required: `what` names the path in the error.
    fn required(&self, parent: NodeId, local: &str, what: &str) -> Result<String, InboundError> {
        self.text(parent, local)?.ok_or_else(|| malformed(what))
    }

    fn name(&self, node: NodeId) -> &str {
        self.doc.element(node).map_or("?", |e| e.local.as_str())
    }
}

/// The fixed skeleton of an edXML message: `edXML/edXMLEnvelope/edXMLHeader` and the one
/// `MessageHeader` or `MessageStatus` in it.
struct Skeleton {
    root: NodeId,
    header: NodeId,
    message: NodeId,
    /// `MessageHeader` (a dossier message) rather than `MessageStatus`.
    is_dossier: bool,
}

impl Skeleton {
    fn of(p: &Paths<'_>) -> Result<Self, InboundError> {
        let root = p.doc.root();
        if !p.doc.element(root).is_some_and(|e| e.is(EDXML_NS, "edXML")) {
            return Err(InboundError::Malformed(format!(
                "the document element must be edXML in {EDXML_NS}"
            )));
        }
        let envelope = p.one(root, "edXMLEnvelope")?;
        let header = p.one(envelope, "edXMLHeader")?;
        let (message, is_dossier) = match (
            p.only(header, "MessageHeader")?,
            p.only(header, "MessageStatus")?,
        ) {
            (Some(m), None) => (m, true),
            (None, Some(m)) => (m, false),
            (None, None) => return Err(malformed("MessageHeader or MessageStatus")),
            (Some(_), Some(_)) => {
                return Err(InboundError::Malformed(
                    "edXMLHeader holds both MessageHeader and MessageStatus".into(),
                ));
            }
        };
        Ok(Self {
            root,
            header,
            message,
            is_dossier,
        })
    }
}

/// Who this center is, and whom it receives from.
#[derive(Debug, Clone, Copy)]
pub struct Receiver<'a> {
    /// This center's agency code: a dossier message must name it in `To/OrganId`.
    pub organ_id: &'a str,
    /// The peers it accepts messages from.
    pub peers: &'a [KnownPeer],
    /// Parser limits.
    pub limits: Limits,
}

/// Reads and believes (or refuses) a received edXML message.
///
/// The document is parsed once. Before anything is believed, only `From/OrganId` is read (along
/// its fixed path) to pick the peer's trust store; then the whole document must carry exactly
/// one signature, by a certificate of that store whose name the peer allows, placed where the
/// standard puts it (in `edXMLHeader`); then every field is read along its fixed path from the
/// document element, never from inside the `Signature`. A dossier message must be addressed to
/// this center (`To/OrganId`).
///
/// Errors: [`InboundError`], each with the HTTP status the exchange endpoint answers.
pub fn read(xml: &str, receiver: &Receiver<'_>) -> Result<Inbound, InboundError> {
    // Parse once without trusting anything, to find who claims to send it.
    let doc = Document::parse(xml, receiver.limits)
        .map_err(|e| InboundError::Malformed(e.to_string()))?;
    let from = {
        let p = Paths { doc: &doc };
        let skeleton = Skeleton::of(&p)?;
        let from = p.one(skeleton.message, "From")?;
        p.required(from, "OrganId", "From/OrganId")?
    };
    let peer = receiver
        .peers
        .iter()
        .find(|p| p.organ_id == from)
        .ok_or_else(|| InboundError::UnknownPeer(from.clone()))?;

    // The whole document must be signed by a certificate of the peer's trust store.
    let expected = Expected::WholeDocument;
    // The tree parsed above is the one verified (a large document is parsed once).
    let verified = xmldsig::verify_parsed(
        doc,
        &VerifyPolicy {
            limits: receiver.limits,
            ..VerifyPolicy::new(&peer.trust, &expected)
        },
    )
    .map_err(|e| match e {
        DsigError::Xml(x) => InboundError::Malformed(x.to_string()),
        other => InboundError::BadSignature(other.to_string()),
    })?;
    let cert = &verified.signer.certificate;
    if !peer.is_named_by(cert) {
        return Err(InboundError::WrongSigner {
            signer: cert.subject.clone(),
            organ_id: peer.organ_id.clone(),
        });
    }

    // Read the believed tree (the one that was verified), along the fixed paths only.
    let doc = &verified.document;
    let p = Paths { doc };
    let skeleton = Skeleton::of(&p)?;
    if doc.node(verified.signature).parent != Some(skeleton.header) {
        return Err(InboundError::BadSignature(
            "the Signature must be a child of edXMLHeader, where QCVN 102:2016 places it".into(),
        ));
    }
    let m = skeleton.message;
    let trace = p.one(skeleton.header, "TraceHeaderList")?;
    let (document_id, dossier_code, business_doc_type, status_code) = if skeleton.is_dossier {
        let mut to = Vec::new();
        for t in p.all(m, "To") {
            to.push(p.required(t, "OrganId", "To/OrganId")?);
        }
        if to.is_empty() {
            return Err(malformed("To/OrganId"));
        }
        if !to.iter().any(|t| t == receiver.organ_id) {
            return Err(InboundError::NotAddressed {
                to,
                organ_id: receiver.organ_id.to_string(),
            });
        }
        let document_id = p.required(m, "DocumentId", "DocumentId")?;
        let other = p.one(m, "OtherInfo")?;
        let dossier_code = p.required(other, "ReferenceCodes", "OtherInfo/ReferenceCodes")?;
        let kind = match p.only(trace, "Bussiness")? {
            Some(b) => p.text(b, "BussinessDocType")?,
            None => None,
        };
        let kind = match kind {
            None => 0,
            Some(k) => k.parse::<u8>().ok().filter(|k| *k <= 3).ok_or_else(|| {
                InboundError::Malformed(format!("BussinessDocType {k} is not 0-3"))
            })?,
        };
        (document_id, dossier_code, Some(kind), None)
    } else {
        let response = p.one(m, "ResponseFor")?;
        let document_id = p.required(response, "DocumentId", "ResponseFor/DocumentId")?;
        let dossier_code = p.required(response, "Code", "ResponseFor/Code")?;
        let status = p.required(m, "StatusCode", "StatusCode")?;
        (document_id, dossier_code, None, Some(status))
    };
    let mut attachments = Vec::new();
    if let Some(encoded) = p.only(skeleton.root, "AttachmentEncoded")? {
        for n in p.all(encoded, "Attachment") {
            let content: String = p
                .only(n, "ContentTransferEncoded")?
                .map(|c| {
                    doc.text(c)
                        .chars()
                        .filter(|c| !c.is_ascii_whitespace())
                        .collect()
                })
                .unwrap_or_default();
            attachments.push(ReceivedAttachment {
                content_id: p.text(n, "ContentId")?.unwrap_or_default(),
                content_type: p.text(n, "ContentType")?.unwrap_or_default(),
                name: p.text(n, "AttachmentName")?.unwrap_or_default(),
                content,
            });
        }
    }
    let mut last_hop = None;
    for hop in p.all(trace, "TraceHeader") {
        if let Some(t) = p.text(hop, "Timestamp")? {
            last_hop = Some(t);
        }
    }
    let sent_at = match last_hop {
        Some(t) => Some(parse_time(&t).ok_or_else(|| {
            InboundError::Malformed(format!(
                "TraceHeader/Timestamp {t:?} is not yyyy/MM/dd HH:mm:ss"
            ))
        })?),
        None => None,
    };
    let from_el = p.one(m, "From")?;
    let from_name = p.text(from_el, "OrganName")?.unwrap_or_default();
    let (subject, procedure_code) = if skeleton.is_dossier {
        let other = p.one(m, "OtherInfo")?;
        (p.text(m, "Subject")?, p.text(other, "ProcedureCode")?)
    } else {
        (None, None)
    };
    let (description, staff, status_at) = if skeleton.is_dossier {
        (None, None, None)
    } else {
        let status_at = match p.text(m, "Timestamp")? {
            Some(t) => Some(parse_time(&t).ok_or_else(|| {
                InboundError::Malformed(format!(
                    "MessageStatus/Timestamp {t:?} is not yyyy/MM/dd HH:mm:ss"
                ))
            })?),
            None => None,
        };
        let staff = match p.only(m, "StaffInfo")? {
            Some(s) => p.text(s, "Staff")?,
            None => None,
        };
        (p.text(m, "Description")?, staff, status_at)
    };
    Ok(Inbound {
        from_name,
        sent_at,
        subject,
        procedure_code,
        description,
        staff,
        status_at,
        from,
        document_id,
        business_doc_type,
        status_code,
        dossier_code,
        attachments,
        signer: cert.subject.clone(),
        signer_certificate_sha256: cert.sha256_fingerprint.clone(),
        signature_value: verified.signature_value.clone(),
        signed_by: verified.signer.clone(),
    })
}
