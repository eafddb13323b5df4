//! The store's write operations as values: what the caller asked, and where its answer goes.
//!
//! Both backends take the same [`Op`]s: the SQLite writer groups many into one transaction, the
//! PostgreSQL backend runs each in its own; either answers a caller only after the commit.

use tokio::sync::oneshot;

use super::StoreError;
use super::writes::audit::AuditStamp;
use super::writes::callbacks::{CallbackOutcome, CallbackReceipt};
use super::writes::delivery::{Claim, ClaimedBatch, Completion, Release, ReplayOutcome};
use super::writes::exchange::{ExchangeReceipt, ReceiptOutcome};
use super::writes::followups::{FollowupOutcome, FollowupUpdate};
use super::writes::intake::{EventIntake, IntakeOutcome, NewDossier, ReplaceDossier};
use super::writes::retention::{PurgePlan, Purged};

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One write operation with the channel its answer goes to.
pub(super) enum Op {
    NewDossier(NewDossier, Reply<IntakeOutcome>),
    ReplaceDossier(ReplaceDossier, Reply<IntakeOutcome>),
    Event(EventIntake, Reply<IntakeOutcome>),
    Claim(Claim, Reply<Vec<ClaimedBatch>>),
    /// Lease owner, message seqs, new lease length (ms).
    Renew(String, Vec<i64>, i64, Reply<u64>),
    /// Lease owner and the attempts it made.
    Complete(String, Vec<Completion>, Reply<()>),
    Release(Release, Reply<u64>),
    Replay(String, Reply<ReplayOutcome>),
    Receive(Box<ExchangeReceipt>, Reply<ReceiptOutcome>),
    Callback(Box<CallbackReceipt>, Reply<CallbackOutcome>),
    Followup(Box<FollowupUpdate>, Reply<FollowupOutcome>),
    Purge(PurgePlan, Reply<Purged>),
    /// Link at most this many unlinked audit records into the chain.
    LinkAudit(i64, Reply<u64>),
    /// Record a time-stamp of the chain head.
    StampAudit(Box<AuditStamp>, Reply<()>),
    /// Job, owner, lease length (ms).
    AcquireJob(String, String, i64, Reply<bool>),
    /// Job, owner.
    ReleaseJob(String, String, Reply<()>),
    /// Record a signature nonce (key id, nonce, until in Unix ms); whether it was new.
    Nonce(String, String, i64, Reply<bool>),
    /// Start a console session (id SHA-256, role, until in Unix ms).
    SessionStart(String, String, i64, Reply<()>),
    /// End a console session (id SHA-256).
    SessionEnd(String, Reply<()>),
    /// Keep a generated token (role, candidate) unless one is kept; the one kept.
    TokenEnsure(String, String, Reply<String>),
    /// Stop the backend once what came before is committed.
    Stop(oneshot::Sender<()>),
}

/// What an operation produced, before it is sent to its caller.
pub(super) enum Done {
    Intake(IntakeOutcome),
    Claimed(Vec<ClaimedBatch>),
    Unit,
    Count(u64),
    Replay(ReplayOutcome),
    Received(ReceiptOutcome),
    Callback(CallbackOutcome),
    Followup(FollowupOutcome),
    Purged(Purged),
    Held(bool),
    Text(String),
}

impl Op {
    /// Whether the dispatcher should look for work after this operation committed.
    pub(super) fn wakes(&self, done: &Done) -> bool {
        matches!(self, Self::Complete(..) | Self::Release(..))
            || matches!(
                done,
                Done::Intake(IntakeOutcome::Accepted(_))
                    | Done::Replay(ReplayOutcome::Replayed)
                    | Done::Received(ReceiptOutcome::Stored { .. })
                    | Done::Callback(CallbackOutcome::Stored(_) | CallbackOutcome::Changed(_))
                    | Done::Followup(FollowupOutcome::Changed(_))
            )
    }

    /// A short name for metrics.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::NewDossier(..) => "intake_dossier",
            Self::ReplaceDossier(..) => "replace_dossier",
            Self::Event(..) => "intake_event",
            Self::Claim(..) => "claim",
            Self::Renew(..) => "renew",
            Self::Complete(..) => "complete",
            Self::Release(..) => "release",
            Self::Replay(..) => "replay",
            Self::Receive(..) => "receive_exchange",
            Self::Callback(..) => "receive_callback",
            Self::Followup(..) => "followup",
            Self::Purge(..) => "purge",
            Self::LinkAudit(..) => "link_audit",
            Self::StampAudit(..) => "stamp_audit",
            Self::AcquireJob(..) => "acquire_job",
            Self::ReleaseJob(..) => "release_job",
            Self::Nonce(..) => "nonce",
            Self::SessionStart(..) => "session_start",
            Self::SessionEnd(..) => "session_end",
            Self::TokenEnsure(..) => "token_ensure",
            Self::Stop(..) => "stop",
        }
    }

    /// Sends the result to the caller (who may have gone: then nobody hears it).
    pub(super) fn answer(self, result: Result<Done, StoreError>) {
        match self {
            Self::NewDossier(_, tx) | Self::ReplaceDossier(_, tx) | Self::Event(_, tx) => {
                send(tx, result);
            }
            Self::Claim(_, tx) => send(tx, result),
            Self::Complete(.., tx)
            | Self::ReleaseJob(.., tx)
            | Self::SessionStart(.., tx)
            | Self::SessionEnd(.., tx)
            | Self::StampAudit(_, tx) => send(tx, result),
            Self::Release(_, tx) | Self::Renew(.., tx) | Self::LinkAudit(_, tx) => {
                send(tx, result);
            }
            Self::Replay(_, tx) => send(tx, result),
            Self::Receive(_, tx) => send(tx, result),
            Self::Callback(_, tx) => send(tx, result),
            Self::Followup(_, tx) => send(tx, result),
            Self::Purge(_, tx) => send(tx, result),
            Self::AcquireJob(.., tx) | Self::Nonce(.., tx) => send(tx, result),
            Self::TokenEnsure(.., tx) => send(tx, result),
            Self::Stop(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

/// Sends what an operation produced, as the type its caller waits for.
fn send<T: FromDone>(tx: Reply<T>, result: Result<Done, StoreError>) {
    let answer = result.and_then(|done| {
        T::from_done(done).ok_or_else(|| {
            StoreError::Corrupt("operation answered with the wrong kind of result".to_owned())
        })
    });
    // The caller may have gone: then nobody hears it.
    let _ = tx.send(answer);
}

/// A caller's result type, taken out of [`Done`].
trait FromDone: Sized {
    /// `None` when `done` is another kind of result (a bug: answered as corrupt).
    fn from_done(done: Done) -> Option<Self>;
}

impl FromDone for () {
    fn from_done(_: Done) -> Option<Self> {
        Some(())
    }
}

/// `FromDone` for the result types that one variant of [`Done`] carries.
macro_rules! from_done {
    ($($variant:ident => $t:ty),* $(,)?) => {$(
        impl FromDone for $t {
            fn from_done(done: Done) -> Option<Self> {
                match done {
                    Done::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

from_done! {
    Intake => IntakeOutcome,
    Claimed => Vec<ClaimedBatch>,
    Count => u64,
    Replay => ReplayOutcome,
    Received => ReceiptOutcome,
    Callback => CallbackOutcome,
    Followup => FollowupOutcome,
    Purged => Purged,
    Held => bool,
    Text => String,
}
