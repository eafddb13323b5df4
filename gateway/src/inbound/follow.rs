//! The follow-up poller: for each destination that decides dossiers itself (NBRS), asks about
//! every open follow-up that is due and records what changed.
//!
//! One task per such destination. Requests are spaced to the destination's `rate` whatever the
//! backlog (a national system behind a shared platform must not be flooded); a follow-up is asked
//! again `interval` after its last poll, and never again once its status is final. A new status
//! code becomes, in one transaction ([`crate::store::Store::record_followup`]): the new code on
//! the follow-up, a status event on the dossier — whose progress messages go to the dossier's
//! other destinations that take them (DVCQG, EMC), exactly as a status event from the center
//! would — and a `<kind>.status` notice to `[callbacks] forward_to`. The transaction is guarded
//! by the last recorded code, so repeated polls and restarts record each change once.

use std::sync::Arc;
use std::time::Duration;

use lienthong_connectors::follow::Followed;
use lienthong_mappings::{Actor, StatusEvent};
use tokio_util::sync::CancellationToken;

use crate::delivery::destinations::{Destination, Destinations};
use crate::operations::cluster::{JobLease, Rounds};
use crate::outbox::{Outbox, OutboxError};
use crate::store::{EventIntake, Followup, FollowupOutcome, FollowupUpdate, Seen, Store, now_ms};

/// How often due follow-ups are looked for (they are due `interval` after their last poll).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The poller of one destination.
pub struct Follower {
    /// The destination followed.
    pub destination: Arc<Destination>,
    /// Every destination (where the events' progress messages go).
    pub destinations: Destinations,
    /// The store.
    pub store: Store,
    /// Webhook destinations told of every change.
    pub forward_to: Vec<String>,
    /// This instance's id (the poller runs where its job lease is held).
    pub instance: String,
}

/// How long a follow-up poller's lease lasts without renewal (it renews before every request).
const JOB_LEASE: Duration = Duration::from_secs(60);

/// Runs until `stop`.
pub async fn run(f: Follower, stop: CancellationToken) {
    // The pace is the one of the start-up configuration; a reload changes credentials and
    // mappings, not how fast the national system is asked.
    let Some(follow) = f.destination.follow() else {
        return;
    };
    let pace = follow.pace();
    let period = Duration::from_secs_f64(1.0 / pace.rate.max(0.001));
    let mut limiter = tokio::time::interval(period);
    limiter.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(
        destination = f.destination.name,
        interval = ?pace.interval,
        rate = pace.rate,
        "follow-up poller started"
    );
    let lease = JobLease::new(
        f.store.clone(),
        format!("follow:{}", f.destination.name),
        f.instance.clone(),
        JOB_LEASE,
    );
    let look = LOOK_EVERY.min(pace.interval);
    let mut rounds = Rounds::new(&lease, look, &stop);
    'rounds: while rounds.next().await {
        match f
            .store
            .due_followups(&f.destination.name, now_ms(), pace.batch)
            .await
        {
            Ok(due) => {
                for followup in due {
                    tokio::select! {
                        _ = limiter.tick() => {}
                        () = stop.cancelled() => break 'rounds,
                    }
                    // Another instance may have taken the job over meanwhile.
                    if !lease.hold().await {
                        break;
                    }
                    f.poll(&followup, pace.interval).await;
                }
            }
            Err(e) => {
                tracing::warn!(destination = f.destination.name, error = %e, "follow-ups unreadable")
            }
        }
        rounds.wait(look);
    }
    lease.release().await;
}

impl Follower {
    async fn poll(&self, followup: &Followup, interval: Duration) {
        let (code, reference) = (followup.dossier_code.as_str(), followup.reference.as_str());
        let name = &self.destination.name;
        let next_poll_at = now_ms() + i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        let Some(follow) = self.destination.follow() else {
            return;
        };
        let seen = match follow.status_of(reference).await {
            // Nothing changed (most polls): no event or notice to build, only the next poll.
            Ok(s) if followup.last_code.as_deref() == Some(s.code.as_str()) => Some(Seen {
                code: s.code,
                is_final: s.is_final,
                event: None,
                notices: Vec::new(),
            }),
            Ok(s) => match self.seen(code, reference, s).await {
                Ok(seen) => Some(seen),
                Err(e) => {
                    tracing::error!(destination = name, dossier = code, error = %e, "follow-up not recorded");
                    None
                }
            },
            Err(o) => {
                tracing::warn!(
                    destination = name,
                    dossier = code,
                    reference,
                    error = o.error().unwrap_or_default(),
                    "follow-up poll failed; asked again later"
                );
                crate::monitoring::telemetry::followup(name, "failed");
                None
            }
        };
        let update = FollowupUpdate {
            destination: name.clone(),
            dossier_code: code.to_owned(),
            reference: reference.to_owned(),
            seen,
            next_poll_at,
        };
        match self.store.record_followup(update).await {
            Ok(FollowupOutcome::Changed(event)) => {
                crate::test_hooks::crash_point("followup");
                tracing::info!(
                    destination = name,
                    dossier = code,
                    reference,
                    event = event.as_ref().map(|e| e.label()),
                    "follow-up: status changed"
                );
                crate::monitoring::telemetry::followup(name, "changed");
            }
            Ok(FollowupOutcome::Unchanged) => {
                crate::monitoring::telemetry::followup(name, "unchanged")
            }
            Err(e) => {
                tracing::error!(destination = name, dossier = code, error = %e, "follow-up not recorded")
            }
        }
    }

    /// What a reported status leads to: the event (when it means a canonical status) with its
    /// progress messages, and the notices.
    async fn seen(&self, code: &str, reference: &str, s: Followed) -> Result<Seen, OutboxError> {
        let name = &self.destination.name;
        let kind = self.destination.connector().kind();
        let notices = Outbox::notice(
            &self.forward_to,
            &format!("{kind}.status"),
            code,
            crate::outbox::notices::data(&crate::outbox::notices::FollowStatusNotice {
                destination: name.clone(),
                reference: reference.to_owned(),
                code: s.code.clone(),
                status: s.canonical.map(|c| c.as_str().to_owned()),
                is_final: s.is_final,
                report: s.report.clone(),
            })?,
        )?;
        // The outbox's rule for a decision: one whose progress does not render for a
        // destination is not recorded as an event (logged), and its notice still goes out.
        let event = match s.canonical {
            Some(status) => match self.event(code, reference, &s.code, status).await {
                Ok(e) => Some(e),
                Err(OutboxError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(destination = name, dossier = code, error = %e, "the decision does not become a status event");
                    None
                }
            },
            None => None,
        };
        Ok(Seen {
            code: s.code,
            is_final: s.is_final,
            event,
            notices,
        })
    }

    async fn event(
        &self,
        code: &str,
        reference: &str,
        portal_code: &str,
        status: lienthong_mappings::DossierStatus,
    ) -> Result<EventIntake, OutboxError> {
        let name = &self.destination.name;
        let event = StatusEvent {
            id: format!("{name}:{reference}:{portal_code}"),
            at: time::OffsetDateTime::now_utc(),
            status,
            actor: Actor {
                name: format!(
                    "{} ({name})",
                    self.destination.connector().kind().to_uppercase()
                ),
                title: None,
                unit: None,
            },
            note: Some(format!("{name} {reference}: {portal_code}")),
            due_at: None,
            exchange: None,
        };
        crate::outbox::decision(&self.store, &self.destinations, code, name, event).await
    }
}
