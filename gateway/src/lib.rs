//! Lienthong, the secure integration gateway of a provincial Public Administration Center.
//!
//! Layout (see `DESIGN.md`):
//! - [`config`]: the configuration file and its validation (the text; files are only looked for);
//! - [`loaded`]: what the configuration names (certificates, keys, tokens, secrets), read once;
//! - [`store`]: the store, SQLite (one node, group-committing writer) or PostgreSQL (several
//!   instances sharing the work);
//! - [`routing`]: which destinations a dossier goes to;
//! - [`outbox`]: turns a dossier, a status event or a notice into the messages for its
//!   destinations (rendered at intake, one failure rule, lookups after the repeat check);
//! - [`retry`] and [`breaker`]: the persisted retry schedule and the per-destination circuit breaker;
//! - [`hold`]: a destination held back by a failure of the gateway's own (a pulled-out token);
//! - [`dispatcher`]: claims due deliveries and hands them to connectors;
//! - [`exchange`]: receiving edXML from other centers, pushed or pulled from the axis;
//! - [`access`]: who may call which part of the HTTP API;
//! - [`tokens`]: the bearer tokens generated at the first start for roles left without one;
//! - [`http`]: the HTTP API (intake, tracking, admin, health);
//! - [`listener`] and [`limits`]: the accept loop, TLS, and what one client may hold;
//! - [`audit`]: the hash-chained audit log of every message sent and received;
//! - [`telemetry`]: Prometheus metrics;
//! - [`reload`] and [`systemd`]: configuration reload and the service manager's notifications;
//! - [`server`]: wires them together; `run()` takes a bound listener and a shutdown future;
//! - [`cli`]: the `lienthong` command (the demo is its own program, `lienthong-demo`).

pub mod access;
pub mod audit;
pub mod breaker;
pub mod callbacks;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod deadlines;
pub mod destinations;
pub mod dispatcher;
pub mod exchange;
pub mod follow;
pub mod hold;
pub mod http;
pub mod limits;
pub mod listener;
pub mod loaded;
pub mod logging;
pub mod notices;
pub mod outbox;
pub mod reload;
pub mod retention;
pub mod retry;
pub mod revocation;
pub mod routing;
pub mod security;
pub mod server;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod tokens;
