//! Delivery (gửi đi): what happens to a stored message until its destination has it. The
//! dispatcher claims due deliveries and hands them to connectors; connectors only classify the
//! outcome, and the retry schedule, the circuit breaker and the hold decide what happens next,
//! once, here. Follow-ups poll destinations that decide a dossier themselves. See
//! `ARCHITECTURE.md`.

pub mod breaker;
pub mod destinations;
pub mod dispatcher;
pub mod hold;
pub mod retry;
