//! Lienthong, the secure integration gateway of a provincial Public Administration Center
//! (Trung tâm Phục vụ hành chính công).
//!
//! The folders follow a message's path; `ARCHITECTURE.md` at the repository's root is the map
//! (the flow of a dossier and of an inbound message, what each folder owns and may import, the
//! invariants). In the order a dossier meets them:
//! - [`http`]: the listener (TLS, what one client may hold), the request limits and the HTTP API
//!   handlers (intake, tracking, admin, health); every error an RFC 9457 problem;
//! - [`auth`]: who may call what — roles, bearer tokens (and those generated at the first start);
//! - [`outbox`]: routing (which destinations a dossier goes to), the configured destinations,
//!   and the step that turns a dossier, a status event or a notice into the messages for them;
//! - [`store`]: the store, SQLite (one node, group-committing writer) or PostgreSQL (several
//!   instances sharing the work); nothing is answered 2xx before it commits;
//! - [`delivery`]: the dispatcher, the persisted retry schedule, the circuit breaker, the hold
//!   for the gateway's own failures, and follow-ups of destinations that decide themselves;
//! - [`inbound`]: pushes from national systems and edXML from other centers (pushed or pulled);
//! - [`trust`]: certificates, keys, trust anchors and secrets read once, TLS and signing set-up,
//!   revocation;
//! - [`operations`]: audit log, deadlines, retention, metrics, logging, systemd, cluster jobs,
//!   reload;
//! - [`console`]: the operator console (HTML);
//! - [`config`]: the configuration file and its validation (the text; files are only looked for);
//! - [`cli`]: the `lienthong` command (the demo is its own program, `lienthong-demo`);
//! - [`server`]: wires them together; `run()` takes a bound listener and a shutdown future.

pub mod auth;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod http;
pub mod inbound;
pub mod loaded;
pub mod monitoring;
pub mod operations;
pub mod outbox;
pub mod reload;
pub mod server;
pub mod store;
pub mod trust;
