//! What one client may hold of the gateway (giới hạn kết nối): connections, requests in flight
//! per address, and the time it may take to send a request body.
//!
//! The accept loop takes a [`ConnectionSlot`] per connection (past `server.max_connections` a
//! connection is closed at once, counted); each request takes an [`InFlight`] slot for its
//! client address (past `server.max_requests_per_client`: 429 with `Retry-After`); each request
//! body is wrapped in a [`DeadlineBody`], which fails the read when the client has sent less
//! than `min_body_rate` per second beyond a `body_timeout` grace — so a client trickling a body
//! byte by byte is cut off (408), while a large body sent at a reasonable rate is not. How long
//! the request head may take (and how long an idle keep-alive connection stays) is hyper's
//! header read timeout (`server.header_timeout`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The limits of `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `server.header_timeout`: the request head within this time, and an idle keep-alive
    /// connection closed after it.
    pub header_timeout: Duration,
    /// `server.body_timeout`: grace a request body has beyond what its rate earns.
    pub body_timeout: Duration,
    /// `server.min_body_rate`: bytes per second a body must keep up, on average.
    pub min_body_rate: u64,
    /// `server.max_connections`: connections open at once.
    pub max_connections: usize,
    /// `server.max_requests_per_client`: requests in flight per client address.
    pub max_requests_per_client: usize,
}

/// Requests in flight per client address.
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

/// A request in flight for its client address; released when dropped.
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
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_millis(200),
            min_body_rate: 1000,
            max_connections: 10,
            max_requests_per_client: 2,
        }
    }

    #[test]
    fn each_address_has_its_own_requests_in_flight() {
        let table = Arc::new(PerClient::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let one = table.enter(a, 2).expect("first");
        let _two = table.enter(a, 2).expect("second");
        assert!(table.enter(a, 2).is_none(), "a third for the same address");
        assert!(
            table.enter(b, 2).is_some(),
            "another address is not affected"
        );
        drop(one);
        assert!(
            table.enter(a, 2).is_some(),
            "a finished request frees its slot"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_fails_and_a_steady_one_does_not() {
        // 10 bytes then silence: cut after the grace and 10 ms earned.
        let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
        let body = DeadlineBody::new(rx, &limits());
        let reader = tokio::spawn(async move { body.collect().await });
        tx.send_data(Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let err = reader.await.unwrap().unwrap_err();
        assert!(is_too_slow(err.as_ref()), "{err}");

        // 100 bytes every 50 ms (2,000 bytes/s): never cut.
        let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
        let body = DeadlineBody::new(rx, &limits());
        let reader = tokio::spawn(async move { body.collect().await });
        for _ in 0..100 {
            tx.send_data(Bytes::from(vec![b'x'; 100])).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(tx);
        let got = reader.await.unwrap().expect("a steady body is read");
        assert_eq!(got.to_bytes().len(), 10_000);
    }
}
