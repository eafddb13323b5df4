//! The dispatcher: claims due deliveries, hands them to connectors, records what happened.
//!
//! One loop per process. Each round, for every destination whose circuit admits work, it claims
//! at most as many lanes as the destination has free slots (its concurrency limit) and spawns one
//! task per claimed batch. A task asks the connector to deliver, turns the classified outcome into
//! a decision (delivered, retry at a scheduled time, dead) with [`crate::delivery::retry`], feeds the circuit
//! breaker and records the attempt. The loop wakes on new work (intake commits), on a finished
//! delivery (its lane's next message may now go) or every `poll_interval` (scheduled retries).
//!
//! Shutdown: stop claiming, wait up to the grace period for deliveries in flight, then abort the
//! rest and give their deliveries back (they are due again at the next start).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lienthong_connectors::evidence::Evidence;
use lienthong_connectors::{MessageBody, MessageKind, OutboundMessage, Outcome};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::delivery::breaker::{Admit, CircuitState};
use crate::delivery::destinations::{Destination, Destinations};
use crate::delivery::retry::{self, Next};
use crate::store::{Claim, ClaimedBatch, Completion, Decision, Store, now_ms};

/// Settings of the dispatch loop.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Lease owner: this instance's name (`server.instance`), so a restarted instance gives
    /// back what it held when it died, and never what other instances hold.
    pub owner: String,
    /// Fallback polling period.
    pub poll_interval: Duration,
    /// Most lanes claimed per destination per round.
    pub claim_batch: usize,
    /// Lease length.
    pub lease: Duration,
    /// How long shutdown waits for in-flight deliveries.
    pub shutdown_grace: Duration,
    /// systemd's watchdog, fed once per turn of the loop (`None`: not run under a watchdog).
    pub watchdog: Option<Arc<crate::monitoring::systemd::Watchdog>>,
}

/// Runs the dispatch loop until `shutdown` is cancelled.
pub async fn run(
    store: Store,
    destinations: Destinations,
    settings: DispatchSettings,
    shutdown: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = JoinSet::new();
    match store.release_abandoned(&settings.owner).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deliveries = n,
            "released deliveries left in flight by the previous run"
        ),
        Err(e) => tracing::error!(error = %e, "could not release deliveries left in flight"),
    }
    // Under a watchdog the loop turns at least every quarter of its interval, so a healthy
    // dispatcher pings in time even with no work at all.
    let nap = settings
        .watchdog
        .as_ref()
        .map_or(settings.poll_interval, |w| {
            settings.poll_interval.min(w.max_sleep())
        });
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        if let Some(w) = &settings.watchdog {
            w.pet();
        }
        for dest in destinations.values() {
            claim_for(&store, dest, &settings, &wake, &in_flight, &mut tasks).await;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = store.work.notified() => {}
            () = wake.notified() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tokio::time::sleep(nap) => {}
        }
        while tasks.try_join_next().is_some() {}
    }
    let pending = tasks.len();
    if pending > 0 {
        tracing::info!(deliveries = pending, grace = ?settings.shutdown_grace, "shutdown: waiting for deliveries in flight");
        let drained = tokio::time::timeout(settings.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
    let left: Vec<i64> = lock(&in_flight).drain().collect();
    if !left.is_empty() {
        match store.release(left).await {
            Ok(n) => tracing::info!(deliveries = n, "shutdown: released unfinished deliveries"),
            Err(e) => {
                tracing::error!(error = %e, "shutdown: could not release deliveries; their leases will expire")
            }
        }
    }
    for d in destinations.values() {
        d.breaker.probe_abandoned();
    }
}

/// The job lease under which one instance of a cluster probes a paused destination.
fn probe_job(dest: &Destination) -> String {
    format!("probe:{}", dest.name)
}

/// Whether this instance sends the probe of a paused destination. On a shared store the probe is
/// leased for the destination's cool-down, so the whole cluster sends one probe per cool-down
/// instead of one per instance; a successful probe gives the lease back at once (the other
/// instances' probes then go and close their circuits). On SQLite (one instance): always.
async fn probe_is_ours(store: &Store, dest: &Destination, owner: &str) -> bool {
    if !store.shared() {
        return true;
    }
    match store
        .acquire_job(&probe_job(dest), owner, dest.breaker.cool_down())
        .await
    {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(destination = dest.name, error = %e, "probe lease unavailable");
            false
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn claim_for(
    store: &Store,
    dest: &Arc<Destination>,
    settings: &DispatchSettings,
    wake: &Arc<Notify>,
    in_flight: &Arc<Mutex<HashSet<i64>>>,
    tasks: &mut JoinSet<()>,
) {
    let free = dest.slots.available_permits();
    if free == 0 || !dest.hold.admits(Instant::now()) {
        return;
    }
    let admit = dest.breaker.admit(Instant::now());
    let limit = match admit {
        Admit::All => free.min(settings.claim_batch),
        Admit::Probe => {
            if !probe_is_ours(store, dest, &settings.owner).await {
                dest.breaker.probe_abandoned();
                return;
            }
            1
        }
        Admit::None => return,
    };
    let claim = Claim {
        destination: dest.name.clone(),
        owner: settings.owner.clone(),
        limit,
        lease_ms: i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX),
        progress_batch: dest.connector().batch_limit(MessageKind::Progress),
    };
    let batches = match store.claim(claim).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(destination = dest.name, error = %e, "claim failed");
            if admit == Admit::Probe {
                dest.breaker.probe_abandoned();
            }
            return;
        }
    };
    if batches.is_empty() && admit == Admit::Probe {
        dest.breaker.probe_abandoned();
    }
    for batch in batches {
        let Ok(permit) = dest.slots.clone().try_acquire_owned() else {
            // Cannot happen (we claimed at most the free slots); give the batch back.
            let seqs = batch.messages.iter().map(|m| m.seq).collect();
            let _ = store.release(seqs).await;
            continue;
        };
        lock(in_flight).extend(batch.messages.iter().map(|m| m.seq));
        let (store, dest, wake, in_flight) =
            (store.clone(), dest.clone(), wake.clone(), in_flight.clone());
        let lease = Lease {
            owner: settings.owner.clone(),
            length: settings.lease,
        };
        tasks.spawn(async move {
            deliver(&store, &dest, batch, &lease, &in_flight).await;
            drop(permit);
            wake.notify_one();
        });
    }
}

/// The lease a delivery task holds its messages under.
struct Lease {
    owner: String,
    length: Duration,
}

async fn deliver(
    store: &Store,
    dest: &Destination,
    mut batch: ClaimedBatch,
    lease: &Lease,
    in_flight: &Mutex<HashSet<i64>>,
) {
    let (head_attempts, head_age_from) = (batch.messages[0].attempts, batch.messages[0].age_from);
    let span = tracing::info_span!(
        "delivery",
        destination = dest.name,
        dossier = batch.dossier_code,
        message = batch.messages[0].id
    );
    let _enter = span.enter();
    let mut messages = Vec::with_capacity(batch.messages.len());
    let mut bad: Option<String> = None;
    for m in &mut batch.messages {
        // The stored text is not kept beside the parsed message (a notice can be large).
        let text = std::mem::take(&mut m.body);
        match serde_json::from_str::<MessageBody>(&text) {
            Ok(body) => messages.push(OutboundMessage {
                id: m.id.clone(),
                body,
                attempt: m.attempts + 1,
            }),
            Err(e) => bad = Some(format!("stored message {} unreadable: {e}", m.id)),
        }
    }
    drop(_enter);
    let started_at = now_ms();
    let t0 = Instant::now();
    let held: Vec<i64> = batch.messages.iter().map(|m| m.seq).collect();
    let (outcome, evidence) = match bad {
        Some(e) => (Outcome::reject(e), Evidence::default()),
        None => {
            use tracing::Instrument;
            let connector = dest.connector();
            let attempt = connector.deliver(&messages).instrument(span.clone());
            // What went over the wire, for the audit log.
            lienthong_connectors::evidence::collect_about(
                Some(batch.dossier_code.clone()),
                keep_leased(store, lease, &held, attempt),
            )
            .await
        }
    };
    let duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
    let attempts_made = head_attempts + 1;
    let decision = decide(dest, &outcome, attempts_made, head_age_from);
    let decision_label = decision.state().as_str();
    crate::monitoring::telemetry::attempt(
        &dest.name,
        outcome.label(),
        decision_label,
        t0.elapsed().as_secs_f64(),
        batch.messages.len(),
    );
    let _enter = span.enter();
    // A failure of this gateway's own (the signing key's token pulled out) says nothing about the
    // destination: it holds the destination briefly and leaves the breaker alone.
    let change = if matches!(outcome, Outcome::Local { .. }) {
        None
    } else {
        if dest.hold.cleared() {
            tracing::info!(
                destination = dest.name,
                "the local resource is back: deliveries resume"
            );
        }
        dest.breaker
            .record(!matches!(outcome, Outcome::Retry { .. }), Instant::now())
    };
    if let Some(change) = change {
        crate::monitoring::telemetry::circuit(&dest.name, change.level());
        match change {
            CircuitState::Open => tracing::warn!(
                destination = dest.name,
                "circuit opened: destination paused after consecutive failures"
            ),
            CircuitState::Closed => tracing::info!(
                destination = dest.name,
                "circuit closed: destination resumed"
            ),
            CircuitState::HalfOpen => {}
        }
    }
    match (&outcome, &decision) {
        (_, Decision::Delivered) => {
            tracing::debug!(batch = batch.messages.len(), duration_ms, "delivered")
        }
        (o, Decision::RetryAt { delay_ms, .. }) => {
            tracing::info!(
                attempt = attempts_made,
                delay_ms,
                error = o.error().unwrap_or_default(),
                "delivery failed; will retry"
            )
        }
        (o, Decision::Dead) => {
            tracing::warn!(
                attempt = attempts_made,
                error = o.error().unwrap_or_default(),
                "delivery dead"
            )
        }
    }
    drop(_enter);
    // A successful probe gives the cluster's probe lease back: the other instances probe at once.
    if change == Some(CircuitState::Closed)
        && store.shared()
        && let Err(e) = store.release_job(&probe_job(dest), &lease.owner).await
    {
        tracing::warn!(destination = dest.name, error = %e, "probe lease not released: it runs out");
    }
    // An attempt this gateway could not make (Outcome::Local) does not use up the message's
    // attempts: once the key is back, the retry schedule starts where it was.
    let counted = u32::from(!matches!(outcome, Outcome::Local { .. }));
    let seqs: Vec<(i64, u32)> = batch
        .messages
        .iter()
        .map(|m| (m.seq, m.attempts + counted))
        .collect();
    // A delivery the destination took and answered with its reference for the dossier (NBRS's
    // IN_JOURNAL_NO) starts a follow-up: the dossier's status there is polled until final.
    let follow_up = match decision {
        Decision::Delivered => outcome.portal().and_then(|p| p.reference.clone()),
        Decision::RetryAt { .. } | Decision::Dead => None,
    };
    let completion = Completion {
        messages: seqs.clone(),
        started_at,
        duration_ms,
        outcome,
        decision,
        evidence,
        follow_up,
    };
    if record(store, lease, completion).await {
        let mut f = lock(in_flight);
        for (s, _) in seqs {
            f.remove(&s);
        }
    }
}

/// Runs `attempt` while renewing the lease of `seqs` every third of its length, so a slow
/// destination's attempt is never taken over by another instance while it still runs.
async fn keep_leased<F: std::future::Future<Output = Outcome>>(
    store: &Store,
    lease: &Lease,
    seqs: &[i64],
    attempt: F,
) -> Outcome {
    let lease_ms = i64::try_from(lease.length.as_millis()).unwrap_or(i64::MAX);
    let mut renew = tokio::time::interval(lease.length / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    renew.tick().await;
    tokio::pin!(attempt);
    loop {
        tokio::select! {
            outcome = &mut attempt => return outcome,
            _ = renew.tick() => match store.renew(&lease.owner, seqs.to_vec(), lease_ms).await {
                Ok(n) if n < seqs.len() as u64 => tracing::warn!(
                    held = n,
                    claimed = seqs.len(),
                    "lease lost while the attempt runs: another instance may send it too"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not renew the lease"),
            },
        }
    }
}

/// Records an attempt, trying again while the store is unavailable (a database restart) for as
/// long as the lease lasts: the attempt happened, and recording it spares the destination a
/// second copy. Returns whether it was recorded; if not, the messages are due again when their
/// lease runs out.
async fn record(store: &Store, lease: &Lease, completion: Completion) -> bool {
    let give_up = Instant::now() + lease.length;
    let mut wait = Duration::from_millis(100);
    loop {
        match store.complete(&lease.owner, vec![completion.clone()]).await {
            Ok(()) => return true,
            Err(e) if Instant::now() + wait < give_up => {
                tracing::warn!(error = %e, retry_in = ?wait, "could not record the attempt; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the attempt; it is due again when its lease runs out");
                return false;
            }
        }
    }
}

fn decide(dest: &Destination, outcome: &Outcome, attempts_made: u32, age_from: i64) -> Decision {
    match outcome {
        Outcome::Delivered { .. } => Decision::Delivered,
        Outcome::Reject { .. } => Decision::Dead,
        // Due again when the destination's hold ends; never a dead letter for it.
        Outcome::Local { .. } => {
            let wait = dest.hold.failed(Instant::now());
            let delay_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            Decision::RetryAt {
                at_ms: now_ms().saturating_add(delay_ms),
                delay_ms,
            }
        }
        Outcome::Retry { retry_after, .. } => {
            let now = now_ms();
            match retry::next_attempt(
                &dest.retry(),
                attempts_made,
                age_from,
                now,
                *retry_after,
                &mut rand::rng(),
            ) {
                Next::At { at_ms, delay } => Decision::RetryAt {
                    at_ms,
                    delay_ms: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                },
                Next::GiveUp(_) => Decision::Dead,
            }
        }
    }
}
