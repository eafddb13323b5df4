//! The dispatcher: claims due deliveries, hands them to connectors, records what happened.
//!
//! One loop per process. Each round, for every destination whose circuit admits work, it claims
//! at most as many lanes as the destination has free slots (its concurrency limit) and spawns one
//! task per claimed batch. A task asks the connector to deliver, turns the classified outcome into
//! a decision (delivered, retry at a scheduled time, dead) with [`crate::retry`], feeds the circuit
//! breaker and records the attempt. The loop wakes on new work (intake commits), on a finished
//! delivery (its lane's next message may now go) or every `poll_interval` (scheduled retries).
//!
//! Shutdown: stop claiming, wait up to the grace period for deliveries in flight, then abort the
//! rest and give their deliveries back (they are due again at the next start).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lienthong_connectors::{MessageBody, MessageKind, OutboundMessage, Outcome};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::breaker::{Admit, CircuitState};
use crate::destinations::{Destination, Destinations};
use crate::retry::{self, Next};
use crate::store::{Claim, ClaimedBatch, Completion, Decision, Store, now_ms};

/// Settings of the dispatch loop.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Lease owner id of this instance.
    pub owner: String,
    /// Fallback polling period.
    pub poll_interval: Duration,
    /// Most lanes claimed per destination per round.
    pub claim_batch: usize,
    /// Lease length.
    pub lease: Duration,
    /// How long shutdown waits for in-flight deliveries.
    pub shutdown_grace: Duration,
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
    match store.release_all().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deliveries = n,
            "released deliveries left in flight by the previous run"
        ),
        Err(e) => tracing::error!(error = %e, "could not release deliveries left in flight"),
    }
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        for dest in destinations.values() {
            claim_for(&store, dest, &settings, &wake, &in_flight, &mut tasks).await;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = store.work.notified() => {}
            () = wake.notified() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
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
    if free == 0 {
        return;
    }
    let admit = dest.breaker.admit(Instant::now());
    let limit = match admit {
        Admit::All => free.min(settings.claim_batch),
        Admit::Probe => 1,
        Admit::None => return,
    };
    let claim = Claim {
        destination: dest.name.clone(),
        owner: settings.owner.clone(),
        limit,
        lease_ms: i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX),
        progress_batch: dest.connector.batch_limit(MessageKind::Progress),
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
        tasks.spawn(async move {
            deliver(&store, &dest, batch, &in_flight).await;
            drop(permit);
            wake.notify_one();
        });
    }
}

async fn deliver(
    store: &Store,
    dest: &Destination,
    mut batch: ClaimedBatch,
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
    let outcome = match bad {
        Some(e) => Outcome::reject(e),
        None => {
            use tracing::Instrument;
            dest.connector
                .deliver(&messages)
                .instrument(span.clone())
                .await
        }
    };
    let duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
    let attempts_made = head_attempts + 1;
    let decision = decide(dest, &outcome, attempts_made, head_age_from);
    let decision_label = match decision {
        Decision::Delivered => "delivered",
        Decision::RetryAt { .. } => "retry_wait",
        Decision::Dead => "dead",
    };
    crate::telemetry::attempt(
        &dest.name,
        outcome.label(),
        decision_label,
        t0.elapsed().as_secs_f64(),
        batch.messages.len(),
    );
    let _enter = span.enter();
    if let Some(change) = dest
        .breaker
        .record(!matches!(outcome, Outcome::Retry { .. }), Instant::now())
    {
        crate::telemetry::circuit(&dest.name, change);
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
    let seqs: Vec<(i64, u32)> = batch
        .messages
        .iter()
        .map(|m| (m.seq, m.attempts + 1))
        .collect();
    let completion = Completion {
        messages: seqs.clone(),
        started_at,
        duration_ms,
        outcome,
        decision,
    };
    match store.complete(vec![completion]).await {
        Ok(()) => {
            let mut f = lock(in_flight);
            for (s, _) in seqs {
                f.remove(&s);
            }
        }
        // Left in `in_flight`: released at shutdown, or due again when the lease runs out.
        Err(e) => {
            tracing::error!(destination = dest.name, error = %e, "could not record the attempt")
        }
    }
}

fn decide(dest: &Destination, outcome: &Outcome, attempts_made: u32, age_from: i64) -> Decision {
    match outcome {
        Outcome::Delivered { .. } => Decision::Delivered,
        Outcome::Reject { .. } => Decision::Dead,
        Outcome::Retry { retry_after, .. } => {
            let now = now_ms();
            match retry::next_attempt(
                &dest.retry,
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
