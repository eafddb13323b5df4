//! Evidence bundles (hồ sơ chứng cứ) of one dossier: `lienthong audit export --dossier CODE`
//! writes one JSON file that `lienthong audit verify --bundle FILE` checks offline, with no store.
//!
//! A bundle holds:
//! - the dossier's audit records, in full;
//! - the chain between them, from its first record to the first time-stamp after its last
//!   record (or to the head when none is stamped yet), as `(seq, content digest, hash)` links:
//!   the other dossiers' records are proved by their content digests without being disclosed
//!   ([`crate::records::audit::link_of`]);
//! - that time-stamp's RFC 3161 token and the TSA certificate, so the end of the chain is
//!   anchored in time by a third party;
//! - the documents: the dossier as last stored, the edXML documents received about it (with
//!   the signed answers), and the pushes received, each with its SHA-256.
//!
//! Verification recomputes every dossier record's digest, every link from the first to the
//! last, checks that the stamp covers the last link and that its token verifies, and that each
//! document's digest is one the chain recorded.

use serde::{Deserialize, Serialize};

use crate::records::audit::{AuditRecord, content_digest, link_of};
use crate::store::{AuditStamp, Store, StoreError};

/// The bundle format's name.
pub const FORMAT: &str = "lienthong-audit-bundle/1";

/// One link of the chain, without its record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Position.
    pub seq: i64,
    /// SHA-256 of the record's content.
    pub content_sha256: String,
    /// The link's hash.
    pub hash: String,
}

/// A document kept about the dossier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// `dossier`, `exchange` or `callback`.
    pub kind: String,
    /// Who it came from (`center`, a peer's agency code, `callback:<source>`).
    pub source: String,
    /// Its id (document id, dedupe key, dossier code).
    pub id: String,
    /// SHA-256 of `body` as received (for `callback`, of the push as kept).
    pub sha256: String,
    /// The text (exchange: the signed edXML; dossier: the canonical JSON; callback: the push).
    pub body: serde_json::Value,
    /// The signed answer sent back (exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// An evidence bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: String,
    /// The dossier.
    pub dossier_code: String,
    /// When it was exported (RFC 3339).
    pub exported_at: String,
    /// The dossier's records.
    pub records: Vec<AuditRecord>,
    /// The hash before the first link.
    pub start_prev_hash: String,
    /// The chain from the first record to the stamp (or head).
    pub links: Vec<Link>,
    /// The time-stamp anchoring the last link, if any.
    pub stamp: Option<AuditStamp>,
    /// The TSA's certificate (DER, base64), when configured.
    pub tsa_certificate: Option<String>,
    /// The documents.
    pub documents: Vec<Document>,
}

/// Why a bundle could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing about this dossier is in the chain (unknown, or not linked yet).
    #[error("no linked audit record of dossier {0}")]
    Unknown(String),
}

/// Builds the bundle of `code` from the store.
///
/// Errors: the store failed, or the dossier has no linked record.
pub async fn export(
    store: &Store,
    code: &str,
    tsa_certificate: Option<&[u8]>,
) -> Result<Bundle, ExportError> {
    use base64::Engine;
    let records = store.audit_of_dossier(code).await?;
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Err(ExportError::Unknown(code.to_owned()));
    };
    let stamp = store.audit_stamp_after(last.seq).await?;
    let end = match &stamp {
        Some(s) => s.seq,
        None => store.audit_status().await?.length,
    };
    let mut links = Vec::new();
    let mut after = first.seq - 1;
    while after < end {
        let page = store.audit_page(after, 5000.min(end - after)).await?;
        let Some(tail) = page.last() else { break };
        after = tail.seq;
        links.extend(page.iter().map(|r| Link {
            seq: r.seq,
            content_sha256: content_digest(r),
            hash: r.hash.clone(),
        }));
    }
    let mut documents = Vec::new();
    if let Some(d) = store.dossier(code).await? {
        let sha = lienthong_connectors::evidence::sha256_hex(d.body.as_bytes());
        documents.push(Document {
            kind: "dossier".into(),
            source: "center".into(),
            id: code.to_owned(),
            sha256: sha,
            body: serde_json::Value::String(d.body),
            answer: None,
        });
    }
    for r in store.received(code).await? {
        documents.push(Document {
            kind: "exchange".into(),
            source: r.source,
            id: r.document_id,
            sha256: r.body_sha256,
            body: serde_json::Value::String(r.body),
            answer: Some(r.answer),
        });
    }
    for c in store.callbacks_received(code).await? {
        documents.push(Document {
            kind: "callback".into(),
            source: format!("callback:{}", c.source),
            id: c.dedupe_key,
            sha256: c.body_sha256,
            body: c.body,
            answer: None,
        });
    }
    Ok(Bundle {
        format: FORMAT.to_owned(),
        dossier_code: code.to_owned(),
        exported_at: crate::store::ms_to_rfc3339(crate::store::now_ms()),
        start_prev_hash: first.prev_hash.clone(),
        records,
        links,
        stamp,
        tsa_certificate: tsa_certificate
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c)),
        documents,
    })
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The dossier's records checked.
    pub records: usize,
    /// Links checked.
    pub links: usize,
    /// The stamp's time and the TSA certificate's SHA-256, when stamped.
    pub stamped: Option<(time::OffsetDateTime, String)>,
    /// Documents whose digest the chain recorded.
    pub documents: usize,
}

/// Why a bundle does not verify: the first thing that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not an evidence bundle of this format (its `format` is given).
    #[error("not a {FORMAT} file (format `{0}`)")]
    Format(String),
    /// A link or record is missing, changed or out of place in the hash chain.
    #[error("{0}")]
    Chain(String),
    /// The time-stamp is not of the last link, or does not verify.
    #[error("{0}")]
    Stamp(String),
    /// A document does not match its digest, or is not one the chain recorded.
    #[error("{0}")]
    Document(String),
}

/// Checks a bundle offline. `tsa_certificate` (DER) overrides the one in the bundle, so an
/// auditor can insist on the authority's certificate obtained elsewhere.
///
/// Errors: [`BundleError`], the first thing that does not hold.
pub fn verify(bundle: &Bundle, tsa_certificate: Option<&[u8]>) -> Result<Verified, BundleError> {
    use base64::Engine;
    if bundle.format != FORMAT {
        return Err(BundleError::Format(bundle.format.clone()));
    }
    let mut prev = bundle.start_prev_hash.clone();
    let first_seq = bundle.links.first().map_or(0, |l| l.seq);
    let mut records = bundle.records.iter().peekable();
    for (expected_seq, link) in (first_seq..).zip(&bundle.links) {
        if link.seq != expected_seq {
            return Err(BundleError::Chain(format!(
                "link {expected_seq} is missing (found {})",
                link.seq
            )));
        }
        if let Some(r) = records.next_if(|r| r.seq == link.seq) {
            if r.dossier_code != bundle.dossier_code {
                return Err(BundleError::Chain(format!(
                    "record {} is not of dossier {}",
                    r.seq, bundle.dossier_code
                )));
            }
            if content_digest(r) != link.content_sha256 {
                return Err(BundleError::Chain(format!(
                    "record {} was changed: its content does not match the chain",
                    r.seq
                )));
            }
            if r.hash != link.hash || r.prev_hash != prev {
                return Err(BundleError::Chain(format!(
                    "record {} does not sit where the chain says",
                    r.seq
                )));
            }
        }
        if link_of(&prev, &link.content_sha256) != link.hash {
            return Err(BundleError::Chain(format!(
                "link {} does not follow link {}",
                link.seq,
                link.seq - 1
            )));
        }
        prev.clone_from(&link.hash);
    }
    if let Some(r) = records.next() {
        return Err(BundleError::Chain(format!(
            "record {} is outside the chain of the bundle",
            r.seq
        )));
    }
    let stamped = match &bundle.stamp {
        None => None,
        Some(s) => {
            let last = bundle
                .links
                .last()
                .ok_or_else(|| BundleError::Stamp("a stamp but no links".into()))?;
            if s.seq != last.seq || s.hash != last.hash {
                return Err(BundleError::Stamp(format!(
                    "the time-stamp is of record {}, not of the last link {}",
                    s.seq, last.seq
                )));
            }
            let from_bundle = bundle
                .tsa_certificate
                .as_deref()
                .map(|c| base64::engine::general_purpose::STANDARD.decode(c))
                .transpose()
                .map_err(|e| BundleError::Stamp(format!("tsa_certificate: {e}")))?;
            let cert = tsa_certificate.map(<[u8]>::to_vec).or(from_bundle).ok_or_else(|| {
                BundleError::Stamp(
                    "the bundle is time-stamped but carries no TSA certificate: give --tsa-certificate"
                        .into(),
                )
            })?;
            let (at, _) = super::tsa::verify_token(&s.token, &s.hash, &cert)
                .map_err(|e| BundleError::Stamp(e.to_string()))?;
            Some((at, lienthong_connectors::evidence::sha256_hex(&cert)))
        }
    };
    let recorded: std::collections::HashSet<&str> = bundle
        .records
        .iter()
        .filter_map(|r| r.payload_sha256.as_deref())
        .collect();
    let mut documents = 0;
    for d in &bundle.documents {
        if let (serde_json::Value::String(text), "dossier" | "exchange") =
            (&d.body, d.kind.as_str())
            && lienthong_connectors::evidence::sha256_hex(text.as_bytes()) != d.sha256
        {
            return Err(BundleError::Document(format!(
                "{} document {} does not match its SHA-256",
                d.kind, d.id
            )));
        }
        // Every intake, PUT, push and edXML receipt is recorded with its payload's digest.
        if !recorded.contains(d.sha256.as_str()) {
            return Err(BundleError::Document(format!(
                "{} document {} is not one the chain recorded",
                d.kind, d.id
            )));
        }
        documents += 1;
    }
    Ok(Verified {
        records: bundle.records.len(),
        links: bundle.links.len(),
        stamped,
        documents,
    })
}
