//! The data of `store::exchange`: what the writer is asked to store and what it answers (see
//! `store/exchange.rs` for the operations themselves).

use super::intake::NewMessage;

/// What a received message does to the dossier.
#[derive(Debug, Clone)]
pub enum ReceiptEffect {
    /// A dossier message: create the dossier, or refresh it (BussinessDocType 0, 2, 3), or
    /// withdraw it (1, revoke).
    Dossier {
        /// BussinessDocType.
        business_doc_type: u8,
        /// The dossier as stored (canonical JSON, or the header's summary).
        body: String,
        /// Its SHA-256.
        sha256: String,
        /// Status of a new dossier.
        status: String,
        /// Where statuses about it go (the sender's peer destination).
        reply_destination: String,
        /// Its deadline facts, when the canonical dossier came with it.
        facts: Option<crate::records::deadlines::DossierFacts>,
    },
    /// A status message about a dossier exchanged with the sender.
    Status {
        /// edXML StatusCode.
        status_code: String,
        /// The canonical status it moves the dossier to, if any (01, 15, 16 move nothing).
        status: Option<lienthong_mappings::DossierStatus>,
        /// The status as recorded in the dossier's events (JSON).
        event: String,
        /// The sender's peer destination (the dossier must have been exchanged with it).
        peer_destination: String,
    },
}

/// A received, verified message ready to be stored.
#[derive(Debug, Clone)]
pub struct ExchangeReceipt {
    /// Sender's agency code.
    pub source: String,
    /// Deduplication key (see `Inbound::dedupe_key`).
    pub dedupe_key: String,
    /// DocumentId (of the message, or the one a status answers).
    pub document_id: String,
    /// Dossier code.
    pub dossier_code: String,
    /// Signer's subject.
    pub signer: String,
    /// XML-DSig SignatureValue.
    pub signature_value: String,
    /// SHA-256 (hex) of the signing certificate, for the audit log.
    pub signer_certificate_sha256: Option<String>,
    /// The document as received.
    pub xml: std::sync::Arc<str>,
    /// Its SHA-256.
    pub sha256: String,
    /// The signed answer, kept for resends.
    pub answer: String,
    /// What it does.
    pub effect: ReceiptEffect,
    /// Notices for the center.
    pub notices: Vec<NewMessage>,
}

/// What storing a received message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Stored; the effect recorded (`created`, `updated`, `revoked`, `status`, `recorded`).
    Stored {
        /// The answer to send.
        answer: String,
        /// What it did.
        effect: String,
    },
    /// Received before: the original answer.
    Repeat(String),
    /// The dossier it concerns is not exchanged with this sender (nothing stored): 403.
    NotYours(String),
    /// A status about a dossier this center does not have (nothing stored): 404.
    UnknownDossier,
}
