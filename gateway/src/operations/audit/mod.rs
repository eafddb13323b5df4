//! The audit log (nhật ký kiểm toán): an append-only hash chain of every message sent and
//! received — destination or source, dossier code (mã hồ sơ), message id, SHA-256 of the payload,
//! signature value, peer certificate fingerprint, outcome, time.
//!
//! Design:
//! - A record is written *in the transaction* that sends or stores what it describes (a delivery
//!   attempt's completion, an intake, a push, an edXML receipt), so no message is stored or
//!   recorded as sent without its record. It is written unlinked.
//! - The chainer ([`chainer`]) links unlinked records in the order they were written: it gives
//!   each the next `seq` and `hash = SHA-256(prev_hash ‖ canonical record)` ([`crate::records::audit::link_hash`]). One
//!   writer links (a leased job on a shared store), so the chain is one line even with several
//!   instances. Linking lags writing by at most a chainer round.
//! - [`crate::records::audit::verify`] recomputes the chain and names the first broken link: a changed record (its hash
//!   no longer matches), a deleted one (a gap in `seq`), or a reordered one (its `prev_hash` is
//!   not its predecessor's hash).
//! - The chain head can be time-stamped by an RFC 3161 authority ([`tsa`]); an evidence bundle of
//!   one dossier ([`bundle`]) carries its records with the chain between them, checkable offline.

pub mod bundle;
pub mod chainer;
pub mod tsa;
