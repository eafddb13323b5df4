//! What one client may hold of the gateway (giới hạn kết nối): connections, requests in flight
//! per address, and the time it may take to send a request body.
//!
//! The accept loop takes a slot per connection and one of its address's share (past
//! `server.max_connections`, or `server.max_connections_per_client` for one address, a
//! connection is closed at once, counted); an HTTP/2 connection with no stream open for
//! `server.header_timeout` is closed like an idle HTTP/1 one ([`Activity`]); each request takes an [`InFlight`] slot for its
//! client address (past `server.max_requests_per_client`: 429 with `Retry-After`); each request
//! body is wrapped in a [`DeadlineBody`], which fails the read when the client has sent less
//! than `min_body_rate` per second beyond a `body_timeout` grace — so a client trickling a body
//! byte by byte is cut off (408), while a large body sent at a reasonable rate is not. How long
//! the request head may take (and how long an idle keep-alive connection stays) is hyper's
//! header read timeout (`server.header_timeout`). Request bodies in memory are bounded all
//! together and per address by a [`BodyBudget`]: a body that does not fit is refused (503) before
//! it is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::config::ConnectionLimits;

/// Requests in flight (or connections open) per client address.
#[derive(Debug, Default)]
pub struct PerClient {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerClient {
    /// Takes a slot for `ip`, `None` when it already has `max` requests in flight.
    pub fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<InFlight> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(InFlight {
            table: self.clone(),
            ip,
        })
    }
}

/// A request in flight (or a connection open) for its client address; released when dropped.
#[derive(Debug)]
pub struct InFlight {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Request body bytes held in memory by every route together (`server.max_body_memory`), with
/// each client address's share (`server.max_body_memory_per_client`): a body is counted from
/// its first byte until the answer to its request is produced (parsing and checking it hold
/// memory too). A body whose announced length does not fit is refused before a byte of it is
/// read; one without a length is counted as it arrives.
#[derive(Debug)]
pub struct BodyBudget {
    total: u64,
    per_client: u64,
    used: Mutex<(u64, HashMap<IpAddr, u64>)>,
}

impl BodyBudget {
    /// A budget of `total` bytes, at most `per_client` of them for one address.
    pub fn new(total: u64, per_client: u64) -> Self {
        Self {
            total,
            per_client: per_client.min(total),
            used: Mutex::new((0, HashMap::new())),
        }
    }

    /// Takes `n` more bytes for `ip`; false (nothing taken) when the budget or the address's
    /// share would be exceeded.
    fn take(&self, ip: IpAddr, n: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let mine = used.1.get(&ip).copied().unwrap_or(0);
        if used.0.saturating_add(n) > self.total || mine.saturating_add(n) > self.per_client {
            return false;
        }
        used.0 += n;
        *used.1.entry(ip).or_insert(0) += n;
        true
    }

    fn give_back(&self, ip: IpAddr, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.0 = used.0.saturating_sub(n);
        if let Some(mine) = used.1.get_mut(&ip) {
            *mine = mine.saturating_sub(n);
            if *mine == 0 {
                used.1.remove(&ip);
            }
        }
    }

    /// Bytes held now (all addresses).
    pub fn in_use(&self) -> u64 {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// An empty allowance for one request of `ip`.
    pub fn allowance(self: &Arc<Self>, ip: IpAddr) -> Arc<Allowance> {
        Arc::new(Allowance {
            budget: self.clone(),
            ip,
            held: Mutex::new(0),
            discarding: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// What one request holds of the [`BodyBudget`]; given back when the last holder (its body and
/// the request's service future) drops it.
#[derive(Debug)]
pub struct Allowance {
    budget: Arc<BodyBudget>,
    ip: IpAddr,
    held: Mutex<u64>,
    discarding: std::sync::atomic::AtomicBool,
}

impl Allowance {
    /// The request's body is read only to be thrown away (a refusal answered before the body is
    /// read, [`crate::http::body::discard_some`]): what it holds is given back and nothing more
    /// is counted, so refused strangers take no room from the others.
    pub fn discard(&self) {
        self.discarding
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        self.budget.give_back(self.ip, *held);
        *held = 0;
    }

    /// Holds at least `total` bytes in all for this request (only what it does not hold yet is
    /// taken); false when that does not fit. Always true once the body is being discarded.
    pub fn hold_at_least(&self, total: u64) -> bool {
        if self.discarding.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if total <= *held {
            return true;
        }
        if self.budget.take(self.ip, total - *held) {
            *held = total;
            true
        } else {
            false
        }
    }
}

impl Drop for Allowance {
    fn drop(&mut self) {
        let held = *self.held.get_mut().unwrap_or_else(|p| p.into_inner());
        self.budget.give_back(self.ip, held);
    }
}

/// The error a [`BudgetedBody`] fails with: its bytes do not fit in the body budget now.
#[derive(Debug, thiserror::Error)]
#[error("request bodies in memory fill server.max_body_memory (or this address's share of it)")]
pub struct OverBudget;

pin_project_lite::pin_project! {
    /// A request body counted against the [`BodyBudget`]: its announced length is held before
    /// its first byte is read; without one, each frame is held as it arrives.
    pub struct BudgetedBody<B> {
        #[pin]
        inner: B,
        allowance: Arc<Allowance>,
        announced: Option<u64>,
        received: u64,
    }
}

impl<B> BudgetedBody<B> {
    /// Wraps `inner`, whose `Content-Length` is `announced`.
    pub fn new(inner: B, allowance: Arc<Allowance>, announced: Option<u64>) -> Self {
        Self {
            inner,
            allowance,
            announced,
            received: 0,
        }
    }
}

impl<B> Body for BudgetedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if let Some(n) = *this.announced
            && !this.allowance.hold_at_least(n)
        {
            metrics::counter!("lienthong_body_budget_refused_total").increment(1);
            return Poll::Ready(Some(Err(Box::new(OverBudget))));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    if !this.allowance.hold_at_least(*this.received) {
                        metrics::counter!("lienthong_body_budget_refused_total").increment(1);
                        return Poll::Ready(Some(Err(Box::new(OverBudget))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error from reading a request body is an [`OverBudget`] (anywhere in its chain).
pub fn is_over_budget(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = e {
        if err.is::<OverBudget>() {
            return true;
        }
        e = err.source();
    }
    false
}

/// What a connection is doing, for closing an idle HTTP/2 connection: its streams in flight
/// and when the last one started or ended. PING frames are not requests, so a client that only
/// answers pings is idle.
#[derive(Debug)]
pub struct Activity {
    in_flight: std::sync::atomic::AtomicUsize,
    last: Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }
}

impl Activity {
    /// A request starts; it ends when the guard is dropped.
    pub fn start(self: &Arc<Self>) -> ActiveRequest {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.touch();
        ActiveRequest(self.clone())
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Waits until the connection has had no request in flight for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
            let busy = self.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0;
            if !busy && last.elapsed() >= idle {
                return;
            }
            // A busy connection is looked at again after a full period: a request that ends
            // restarts the clock anyway.
            tokio::time::sleep_until(if busy {
                Instant::now() + idle
            } else {
                last + idle
            })
            .await;
        }
    }
}

/// A request in flight on its connection ([`Activity::start`]).
#[derive(Debug)]
pub struct ActiveRequest(Arc<Activity>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.touch();
    }
}

/// Failed console sign-ins per client address: after [`SignInLimiter::MAX_FAILURES`] within
/// [`SignInLimiter::WINDOW`], an address waits for the window to pass (a token cannot be
/// guessed at the speed of the network). Kept per instance.
#[derive(Debug, Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl SignInLimiter {
    /// Failures allowed within a window.
    pub const MAX_FAILURES: u32 = 5;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(300);

    /// `Err(wait)` when `ip` must wait before trying again.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&ip) {
            Some((n, since)) if *n >= Self::MAX_FAILURES && since.elapsed() < Self::WINDOW => {
                Err(Self::WINDOW.saturating_sub(since.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in of `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, since)| since.elapsed() < Self::WINDOW);
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    /// Forgets the failures of `ip` (it signed in).
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }
}

/// The error a [`DeadlineBody`] fails with: the client sent its body too slowly.
#[derive(Debug, thiserror::Error)]
#[error("the request body was sent too slowly (under {rate} bytes/s after {grace:?})")]
pub struct BodyTooSlow {
    /// `server.min_body_rate`.
    pub rate: u64,
    /// `server.body_timeout`.
    pub grace: Duration,
}

pin_project_lite::pin_project! {
    /// A request body that must arrive at `min_body_rate` on average after a grace period.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        started: Instant,
        received: u64,
        grace: Duration,
        rate: u64,
    }
}

impl<B> DeadlineBody<B> {
    /// Wraps `inner` under `limits`.
    pub fn new(inner: B, limits: &ConnectionLimits) -> Self {
        let started = Instant::now();
        Self {
            inner,
            sleep: tokio::time::sleep_until(started + limits.body_timeout),
            started,
            received: 0,
            grace: limits.body_timeout,
            rate: limits.min_body_rate.max(1),
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    // Each byte earns 1/rate seconds beyond the grace.
                    let earned = Duration::from_secs_f64(*this.received as f64 / *this.rate as f64);
                    this.sleep
                        .as_mut()
                        .reset(*this.started + *this.grace + earned);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => {
                    metrics::counter!("lienthong_slow_bodies_total").increment(1);
                    Poll::Ready(Some(Err(Box::new(BodyTooSlow {
                        rate: *this.rate,
                        grace: *this.grace,
                    }))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error from reading a request body is a [`BodyTooSlow`] (anywhere in its chain).
pub fn is_too_slow(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = e {
        if err.is::<BodyTooSlow>() {
            return true;
        }
        e = err.source();
    }
    false
}

#[cfg(test)]
mod tests;
