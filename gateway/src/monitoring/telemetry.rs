//! Prometheus metrics: one place that names every metric, so that call sites stay one line and the
//! names stay consistent (as Vector's internal events do).
//!
//! Counters and histograms are updated as things happen; queue depths and the age of the oldest
//! undelivered message are read from the store when `/metrics` is scraped, so they are exact and
//! cost nothing between scrapes.

use std::sync::OnceLock;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Buckets of `lienthong_store_op_seconds`.
const STORE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Buckets of `lienthong_store_group_operations`: powers of two up to the largest `max_batch`
/// worth using.
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Buckets of `lienthong_delivery_attempt_seconds`.
const ATTEMPT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's metrics registry, installed as the global recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // The histograms with buckets of their own; the others keep the exporter's summaries.
        let buckets: [(&str, &[f64]); 4] = [
            ("lienthong_delivery_attempt_seconds", ATTEMPT_BUCKETS),
            ("lienthong_store_op_seconds", STORE_BUCKETS),
            ("lienthong_store_commit_seconds", STORE_BUCKETS),
            ("lienthong_store_group_operations", GROUP_BUCKETS),
        ];
        let builder = buckets
            .into_iter()
            .try_fold(PrometheusBuilder::new(), |b, (name, bounds)| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(name.to_owned()),
                    bounds,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed (a second server in one process):
        // then this handle simply sees no updates, which is harmless.
        let _ = metrics::set_global_recorder(recorder);
        gauge!(
            "lienthong_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
        )
        .set(1.0);
        handle
    })
}

/// A dossier, refresh or status event was answered.
pub fn intake(kind: &'static str, outcome: &'static str) {
    counter!("lienthong_intake_total", "kind" => kind, "outcome" => outcome).increment(1);
}

/// One delivery attempt (one exchange, possibly carrying several messages) ended.
pub fn attempt(
    destination: &str,
    outcome: &'static str,
    decision: &'static str,
    seconds: f64,
    messages: usize,
) {
    let d = destination.to_owned();
    counter!("lienthong_delivery_attempts_total", "destination" => d.clone(), "outcome" => outcome)
        .increment(1);
    counter!("lienthong_messages_total", "destination" => d.clone(), "result" => decision)
        .increment(u64::try_from(messages).unwrap_or(u64::MAX));
    histogram!("lienthong_delivery_attempt_seconds", "destination" => d).record(seconds);
}

/// A destination's circuit changed state: `level` 0 closed, 1 half-open, 2 open (the breaker's
/// `CircuitState::level`; this module names nothing of the gateway's, so everything may report).
pub fn circuit(destination: &str, level: u8) {
    let v = f64::from(level);
    gauge!("lienthong_circuit_state", "destination" => destination.to_owned()).set(v);
}

/// Deliveries of a destination in a state, as read from the store at scrape time.
pub fn deliveries(destination: &str, state: &'static str, count: i64) {
    gauge!("lienthong_deliveries", "destination" => destination.to_owned(), "state" => state)
        .set(count as f64);
}

/// Age of the oldest message of a destination not yet delivered (0 when none).
pub fn oldest_undelivered(destination: &str, seconds: f64) {
    gauge!("lienthong_oldest_undelivered_age_seconds", "destination" => destination.to_owned())
        .set(seconds);
}

/// One edXML message received from another center ended with `outcome`.
pub fn exchange(source: &str, outcome: &'static str) {
    counter!("lienthong_exchange_received_total", "source" => source.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A push from a national system was answered (`stored`, `duplicate`, `refused`, `unavailable`).
pub fn callback(source: &str, outcome: &'static str) {
    counter!("lienthong_callbacks_received_total", "source" => source.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// One poll of a followed dossier (`changed`, `unchanged`, `failed`).
pub fn followup(destination: &str, outcome: &'static str) {
    counter!("lienthong_followup_polls_total", "destination" => destination.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Rows deleted by retention (`messages`, `dossiers`, `dedupe`).
pub fn purged(what: &'static str, n: u64) {
    counter!("lienthong_retention_purged_total", "what" => what).increment(n);
}

/// One round of the axis poller ended (`ok` or `failed`).
pub fn pull_round(outcome: &'static str) {
    counter!("lienthong_exchange_pull_rounds_total", "outcome" => outcome).increment(1);
}

/// One store operation ended, `seconds` after it was submitted (commit included).
pub fn store_op(op: &'static str, seconds: f64, ok: bool) {
    histogram!("lienthong_store_op_seconds", "op" => op).record(seconds);
    if !ok {
        counter!("lienthong_store_op_errors_total", "op" => op).increment(1);
    }
}

/// One write group was committed: `operations` answered by it, its commit (on SQLite the
/// fsync of the write-ahead log) took `commit_seconds`. Together with
/// `lienthong_store_op_seconds` these say whether intake latency is spent waiting for the disk
/// or waiting in the writer's queue.
pub fn store_group(operations: usize, commit_seconds: f64) {
    histogram!("lienthong_store_group_operations").record(operations as f64);
    histogram!("lienthong_store_commit_seconds").record(commit_seconds);
}

/// The audit chain's state, read from the store at scrape time: records linked, records waiting
/// to be linked, and — when a TSA is configured — how far the last RFC 3161 time-stamp is
/// behind the head (seconds between the head record's time and the last stamped record's, the
/// head's age when nothing is stamped yet, 0 when the head is stamped).
pub fn audit_chain(length: i64, unlinked: i64, stamp_lag_seconds: Option<f64>) {
    gauge!("lienthong_audit_chain_length").set(length as f64);
    gauge!("lienthong_audit_unlinked").set(unlinked as f64);
    if let Some(lag) = stamp_lag_seconds {
        gauge!("lienthong_audit_timestamp_lag_seconds").set(lag);
    }
}

/// Dossiers of `agency` in deadline `state` (on_time, late, overdue, due_soon, in_progress,
/// closed, no_due_date), as of the scrape.
pub fn deadline(agency: &str, state: &'static str, count: i64) {
    gauge!("lienthong_dossiers_by_deadline", "agency" => agency.to_owned(), "state" => state)
        .set(count as f64);
}
