//! Lienthong, the secure integration gateway of a provincial Public Administration Center
//! (Trung tâm Phục vụ hành chính công).
//!
//! The folders follow a message's path; `ARCHITECTURE.md` at the repository's root is the map
//! (the flow of a dossier and of an inbound message, what each folder owns and may import, the
//! invariants). Top to bottom, each module imports only those below it:
//! - [`server`]: wires everything together; `run()` takes a bound listener and a shutdown future;
//!   [`cli`]: the `lienthong` command (the demo is its own program, `lienthong-demo`);
//! - [`reload`]: configuration reload (SIGHUP, `POST /v1/admin/reload`), swapping what
//!   [`loaded`] read: every certificate, key, token, secret and mapping file the configuration
//!   names, read once;
//! - [`http`]: the listener (TLS, what one client may hold), the request limits, the HTTP API
//!   handlers (intake, tracking, admin, health, pushes, edXML) and the operator console
//!   (`http::console`); every error an RFC 9457 problem;
//! - [`inbound`]: what other systems send — pushes from national systems, edXML from other
//!   centers (pushed or pulled), and follow-ups polling destinations that decide themselves;
//! - [`outbox`]: routing (which destinations a dossier goes to), the notices for the center, and
//!   the step that turns a dossier, a status event or a notice into messages;
//! - [`delivery`]: the destinations with their breakers and holds, the dispatcher, the persisted
//!   retry schedule;
//! - [`trust`]: TLS and signing set-up from certificates, keys and trust anchors; revocation;
//! - [`operations`]: jobs over the store — the audit chainer, time-stamps and evidence bundles,
//!   retention, leases that run a job once across instances;
//! - [`auth`]: who may call what, every rule once — roles, bearer tokens (and those generated at
//!   the first start), client-certificate and X-Road client rules, administrators, the center's
//!   API; a refusal is an `auth::Refusal` the HTTP layer phrases;
//! - [`store`]: the store, SQLite (one node, group-committing writer) or PostgreSQL (several
//!   instances sharing the work); nothing is answered 2xx before it commits;
//! - [`records`]: audit records and their hash chain, deadline facts and counts (plain types);
//! - [`config`]: the configuration file and its validation (the text; files are only looked for);
//! - [`monitoring`]: metrics, logs, the service manager's notifications (a leaf);
//! - [`test_hooks`]: fault injection for the kill -9 tests, only in a build with the
//!   `test-hooks` feature (the test command's), empty otherwise (a leaf).

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
pub mod records;
pub mod reload;
pub mod server;
pub mod store;
pub mod test_hooks;
pub mod trust;
