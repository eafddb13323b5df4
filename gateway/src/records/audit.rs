//! The audit log's records and their hash chain (nhật ký kiểm toán): what one record holds, how
//! its hash is computed, and how a chain is verified. The store writes and links records with
//! these; the jobs in `crate::operations::audit` (chainer, time-stamps, evidence bundles) and
//! `lienthong audit verify` read them. The design is in `crate::operations::audit`.

use serde::{Deserialize, Serialize};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record to append (written unlinked; the chainer links it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `sent` or `received`.
    pub direction: Direction,
    /// The destination it went to, or the source it came from (`center` for the center's own
    /// intake, `callback:<source>`, a peer's agency code).
    pub peer: String,
    /// The dossier it concerns.
    pub dossier_code: String,
    /// The message id (ours when sent; the sender's id or dedupe key when received).
    pub message_id: String,
    /// Lower-case hex SHA-256 of the payload (absent when nothing went out).
    pub payload_sha256: Option<String>,
    /// The signature value carried, if any.
    pub signature: Option<String>,
    /// Lower-case hex SHA-256 of the peer's certificate (TLS or signing), if known.
    pub peer_certificate_sha256: Option<String>,
    /// What came of it (`delivered`, `retry`, `rejected`, `accepted`, `stored`, …).
    pub outcome: String,
}

/// Whether a message was sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent to a destination.
    Sent,
    /// Received from the center, a portal or another center.
    Received,
}

impl Direction {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Received => "received",
        }
    }

    /// Reads a stored word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "received" => Some(Self::Received),
            _ => None,
        }
    }
}

/// A linked record, as stored and as exported in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When it was written (Unix ms).
    pub at: i64,
    /// `sent` or `received`.
    pub direction: Direction,
    /// Destination or source.
    pub peer: String,
    /// Dossier code.
    pub dossier_code: String,
    /// Message id.
    pub message_id: String,
    /// Payload SHA-256.
    pub payload_sha256: Option<String>,
    /// Signature value.
    pub signature: Option<String>,
    /// Peer certificate fingerprint.
    pub peer_certificate_sha256: Option<String>,
    /// Outcome.
    pub outcome: String,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// The bytes of a record's content: its fields in a fixed order, each length-prefixed (and
/// optional ones behind a presence flag) so no two different records encode alike.
fn canonical(r: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |v: &str| {
        out.extend_from_slice(v.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    };
    field("lienthong-audit-record-v1");
    field(&r.seq.to_string());
    field(&r.at.to_string());
    field(r.direction.as_str());
    field(&r.peer);
    field(&r.dossier_code);
    field(&r.message_id);
    for v in [&r.payload_sha256, &r.signature, &r.peer_certificate_sha256] {
        match v {
            Some(v) => {
                field("1");
                field(v);
            }
            None => field("0"),
        }
    }
    field(&r.outcome);
    out
}

/// The SHA-256 (hex) of a record's content. A link's hash covers this digest rather than the
/// content itself, so an evidence bundle can prove the chain between one dossier's records by
/// the other records' digests alone, without disclosing them.
pub fn content_digest(record: &AuditRecord) -> String {
    lienthong_connectors::evidence::sha256_hex(&canonical(record))
}

/// The hash of a link: SHA-256 over the previous hash and the record's content digest.
pub fn link_of(prev_hash: &str, content_digest: &str) -> String {
    let text = format!("lienthong-audit-link-v1\n{prev_hash}\n{content_digest}\n");
    lienthong_connectors::evidence::sha256_hex(text.as_bytes())
}

/// The hash of `record` linked after `prev_hash` (lower-case hex SHA-256). `record.hash` and
/// `record.prev_hash` are not read.
pub fn link_hash(prev_hash: &str, record: &AuditRecord) -> String {
    link_of(prev_hash, &content_digest(record))
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokenLink {
    /// The record's content no longer matches its hash: it was changed.
    #[error("record {seq} was changed: its content does not match its hash")]
    Changed {
        /// The record.
        seq: i64,
    },
    /// Records are missing before this one: deleted.
    #[error("record(s) {expected}..{} are missing (deleted) before record {found}", found - 1)]
    Missing {
        /// The seq that should have come.
        expected: i64,
        /// The seq that came.
        found: i64,
    },
    /// The record does not follow its predecessor: moved, replaced or its predecessor changed.
    #[error(
        "record {seq} does not follow record {}: its prev_hash is not that record's hash (reordered or replaced)",
        seq - 1
    )]
    Unlinked {
        /// The record.
        seq: i64,
    },
}

/// The running state of a verification, so a long chain is checked page by page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    next_seq: i64,
    prev_hash: String,
    /// Records checked so far.
    pub checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// Verification from the first record.
    pub fn new() -> Self {
        Self::starting_after(0, GENESIS.to_owned())
    }

    /// Verification of the records after `seq`, whose hash is `hash` (a bundle's part of the
    /// chain, or a page after one already checked).
    pub fn starting_after(seq: i64, hash: String) -> Self {
        Self {
            next_seq: seq + 1,
            prev_hash: hash,
            checked: 0,
        }
    }

    /// Checks the next record.
    ///
    /// Errors: the first broken link.
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), BrokenLink> {
        if r.seq > self.next_seq {
            return Err(BrokenLink::Missing {
                expected: self.next_seq,
                found: r.seq,
            });
        }
        if r.seq < self.next_seq {
            return Err(BrokenLink::Unlinked { seq: r.seq });
        }
        if link_hash(&r.prev_hash, r) != r.hash {
            return Err(BrokenLink::Changed { seq: r.seq });
        }
        if r.prev_hash != self.prev_hash {
            return Err(BrokenLink::Unlinked { seq: r.seq });
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&r.hash);
        self.checked += 1;
        Ok(())
    }

    /// The hash of the last record checked ([`GENESIS`] before any).
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

/// Verifies a whole chain in seq order.
///
/// Errors: the first broken link.
pub fn verify<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<u64, BrokenLink> {
    let mut v = Verifier::new();
    for r in records {
        v.check(r)?;
    }
    Ok(v.checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut r = AuditRecord {
                    seq,
                    at: 1_764_614_400_000 + seq,
                    direction: if seq % 2 == 0 {
                        Direction::Sent
                    } else {
                        Direction::Received
                    },
                    peer: "dvcqg".into(),
                    dossier_code: format!("H37-{seq}"),
                    message_id: format!("m-{seq}"),
                    payload_sha256: Some("ab".repeat(32)),
                    signature: (seq % 3 == 0).then(|| "c2ln".into()),
                    peer_certificate_sha256: None,
                    outcome: "delivered".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = link_hash(&prev, &r);
                prev.clone_from(&r.hash);
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(10)), Ok(10));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn a_changed_record_is_named() {
        let mut c = chain(10);
        c[4].outcome = "rejected".into();
        assert_eq!(verify(&c), Err(BrokenLink::Changed { seq: 5 }));
        let mut c = chain(10);
        c[6].signature = Some("forged".into());
        assert_eq!(verify(&c), Err(BrokenLink::Changed { seq: 7 }));
    }

    #[test]
    fn a_changed_record_with_a_recomputed_hash_breaks_the_next_link() {
        let mut c = chain(10);
        c[4].outcome = "rejected".into();
        c[4].hash = link_hash(&c[4].prev_hash.clone(), &c[4]);
        assert_eq!(verify(&c), Err(BrokenLink::Unlinked { seq: 6 }));
    }

    #[test]
    fn a_deleted_record_is_named() {
        let mut c = chain(10);
        c.remove(3);
        assert_eq!(
            verify(&c),
            Err(BrokenLink::Missing {
                expected: 4,
                found: 5
            })
        );
    }

    #[test]
    fn swapped_records_are_found() {
        // Swapping contents but keeping positions: the first moved record no longer links.
        let mut c = chain(10);
        let (a, b) = (c[2].clone(), c[3].clone());
        c[2] = AuditRecord { seq: 3, ..b };
        c[3] = AuditRecord { seq: 4, ..a };
        assert_eq!(verify(&c), Err(BrokenLink::Changed { seq: 3 }));
        // Swapping whole rows (seq included): out of order.
        let mut c = chain(10);
        c.swap(2, 3);
        assert!(matches!(
            verify(&c),
            Err(BrokenLink::Missing {
                expected: 3,
                found: 4
            })
        ));
    }

    #[test]
    fn distinct_fields_never_encode_alike() {
        let c = chain(1);
        let mut a = c[0].clone();
        let mut b = c[0].clone();
        a.peer = "ab".into();
        a.dossier_code = "c".into();
        b.peer = "a".into();
        b.dossier_code = "bc".into();
        assert_ne!(link_hash(GENESIS, &a), link_hash(GENESIS, &b));
        let mut n = c[0].clone();
        n.signature = Some("0".into());
        let mut m = c[0].clone();
        m.signature = None;
        assert_ne!(link_hash(GENESIS, &n), link_hash(GENESIS, &m));
    }

    #[test]
    fn verification_continues_across_pages() {
        let c = chain(10);
        let mut v = Verifier::new();
        for r in &c[..5] {
            v.check(r).expect("first page");
        }
        let mut w = Verifier::starting_after(5, v.head().to_owned());
        for r in &c[5..] {
            w.check(r).expect("second page");
        }
        assert_eq!(w.head(), c[9].hash);
    }
}
