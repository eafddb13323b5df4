//! Reading an edXML message received from a peer: safe parsing, the sender's signature checked
//! against that peer's trust store, the signer matched to the `From/OrganId` configured for the
//! peer, and the parts the gateway needs (DocumentId, business type, dossier code, statuses,
//! attachments, trace time) extracted. This is the part that decides whether a message is
//! believed; the gateway's `/v1/exchange` and the pull poller store what it returns.

use std::sync::Arc;

use lienthong_certs::trust::TrustStore;
use lienthong_certs::xml::{Document, Limits, NodeId};
use lienthong_certs::xmldsig::{self, DsigError, Expected, VerifyPolicy};
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
    /// Accepted signer names (subject DN, CN or a SAN). Empty: the organ id must appear in the
    /// signer's subject (Vietnamese organisation certificates carry the agency code there).
    pub signers: Vec<String>,
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
}

impl InboundError {
    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
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

/// Reads and believes (or refuses) a received edXML message.
pub fn read(xml: &str, peers: &[KnownPeer], limits: Limits) -> Result<Inbound, InboundError> {
    // Parse once without trusting anything, to find who claims to send it.
    let doc = Document::parse(xml, limits).map_err(|e| InboundError::Malformed(e.to_string()))?;
    let header = find(&doc, "edXMLHeader").ok_or_else(|| malformed("edXMLHeader"))?;
    let message = doc
        .child(header, EDXML_NS, "MessageHeader")
        .or_else(|| doc.child(header, EDXML_NS, "MessageStatus"))
        .ok_or_else(|| malformed("MessageHeader or MessageStatus"))?;
    let from = doc
        .child(message, EDXML_NS, "From")
        .and_then(|f| doc.child(f, EDXML_NS, "OrganId"))
        .map(|n| doc.text(n).trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("From/OrganId"))?;
    let peer = peers
        .iter()
        .find(|p| p.organ_id == from)
        .ok_or_else(|| InboundError::UnknownPeer(from.clone()))?;

    // The whole document must be signed by a certificate of the peer's trust store.
    let expected = Expected::WholeDocument;
    // The tree parsed above is the one verified (a large document is parsed once).
    let verified = xmldsig::verify_parsed(
        doc,
        &VerifyPolicy {
            limits,
            ..VerifyPolicy::new(&peer.trust, &expected)
        },
    )
    .map_err(|e| match e {
        DsigError::Xml(x) => InboundError::Malformed(x.to_string()),
        other => InboundError::BadSignature(other.to_string()),
    })?;
    let cert = &verified.signer.certificate;
    let name_ok = if peer.signers.is_empty() {
        cert.subject.contains(&peer.organ_id)
    } else {
        peer.signers.iter().any(|s| {
            lienthong_certs::inspect::names_match(s, &cert.subject, &cert.subject_alt_names)
        })
    };
    if !name_ok {
        return Err(InboundError::WrongSigner {
            signer: cert.subject.clone(),
            organ_id: peer.organ_id.clone(),
        });
    }

    // Read the believed tree (the one that was verified).
    let doc = &verified.document;
    let text = |n: Option<NodeId>| {
        n.map(|n| doc.text(n).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let header = find(doc, "edXMLHeader").ok_or_else(|| malformed("edXMLHeader"))?;
    let dossier_message = doc.child(header, EDXML_NS, "MessageHeader");
    let (document_id, dossier_code, business_doc_type, status_code) = match dossier_message {
        Some(m) => {
            let document_id = text(doc.child(m, EDXML_NS, "DocumentId"))
                .ok_or_else(|| malformed("DocumentId"))?;
            let code = doc
                .child(m, EDXML_NS, "OtherInfo")
                .and_then(|o| doc.child(o, EDXML_NS, "ReferenceCodes"));
            let dossier_code = text(code).ok_or_else(|| malformed("OtherInfo/ReferenceCodes"))?;
            let kind = find(doc, "BussinessDocType").map(|n| doc.text(n));
            let kind = match kind.as_deref().map(str::trim) {
                None => 0,
                Some(k) => k.parse::<u8>().ok().filter(|k| *k <= 3).ok_or_else(|| {
                    InboundError::Malformed(format!("BussinessDocType {k} is not 0-3"))
                })?,
            };
            (document_id, dossier_code, Some(kind), None)
        }
        None => {
            let m = doc
                .child(header, EDXML_NS, "MessageStatus")
                .ok_or_else(|| malformed("MessageStatus"))?;
            let response = doc.child(m, EDXML_NS, "ResponseFor");
            let document_id = text(response.and_then(|r| doc.child(r, EDXML_NS, "DocumentId")))
                .ok_or_else(|| malformed("ResponseFor/DocumentId"))?;
            let dossier_code = text(response.and_then(|r| doc.child(r, EDXML_NS, "Code")))
                .ok_or_else(|| malformed("ResponseFor/Code"))?;
            let status = text(doc.child(m, EDXML_NS, "StatusCode"))
                .ok_or_else(|| malformed("StatusCode"))?;
            (document_id, dossier_code, None, Some(status))
        }
    };
    let attachments = doc
        .elements()
        .filter(|(_, e)| e.is(EDXML_NS, "Attachment"))
        .map(|(n, _)| {
            let field = |local: &str| text(doc.child(n, EDXML_NS, local)).unwrap_or_default();
            let content: String = doc
                .child(n, EDXML_NS, "ContentTransferEncoded")
                .map(|c| {
                    doc.text(c)
                        .chars()
                        .filter(|c| !c.is_ascii_whitespace())
                        .collect()
                })
                .unwrap_or_default();
            ReceivedAttachment {
                content_id: field("ContentId"),
                content_type: field("ContentType"),
                name: field("AttachmentName"),
                content,
            }
        })
        .collect();
    let sent_at = match doc
        .elements()
        .filter(|(_, e)| e.is(EDXML_NS, "TraceHeader"))
        .filter_map(|(n, _)| text(doc.child(n, EDXML_NS, "Timestamp")))
        .last()
    {
        Some(t) => Some(parse_time(&t).ok_or_else(|| {
            InboundError::Malformed(format!(
                "TraceHeader/Timestamp {t:?} is not yyyy/MM/dd HH:mm:ss"
            ))
        })?),
        None => None,
    };
    let from_name = text(
        doc.child(header, EDXML_NS, "MessageHeader")
            .or_else(|| doc.child(header, EDXML_NS, "MessageStatus"))
            .and_then(|m| doc.child(m, EDXML_NS, "From"))
            .and_then(|f| doc.child(f, EDXML_NS, "OrganName")),
    )
    .unwrap_or_default();
    let (subject, procedure_code) = match dossier_message {
        Some(m) => (
            text(doc.child(m, EDXML_NS, "Subject")),
            text(
                doc.child(m, EDXML_NS, "OtherInfo")
                    .and_then(|o| doc.child(o, EDXML_NS, "ProcedureCode")),
            ),
        ),
        None => (None, None),
    };
    let status = doc.child(header, EDXML_NS, "MessageStatus");
    let status_text = |local: &str| text(status.and_then(|m| doc.child(m, EDXML_NS, local)));
    let status_at = match status_text("Timestamp") {
        Some(t) => Some(parse_time(&t).ok_or_else(|| {
            InboundError::Malformed(format!(
                "MessageStatus/Timestamp {t:?} is not yyyy/MM/dd HH:mm:ss"
            ))
        })?),
        None => None,
    };
    let staff = text(
        status
            .and_then(|m| doc.child(m, EDXML_NS, "StaffInfo"))
            .and_then(|s| doc.child(s, EDXML_NS, "Staff")),
    );
    Ok(Inbound {
        from_name,
        sent_at,
        subject,
        procedure_code,
        description: status_text("Description"),
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
    })
}

fn find(doc: &Document, local: &str) -> Option<NodeId> {
    doc.elements()
        .find(|(_, e)| e.is(EDXML_NS, local))
        .map(|(n, _)| n)
}
