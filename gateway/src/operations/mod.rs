//! Running the gateway (vận hành): the hash-chained audit log, processing deadlines, retention,
//! metrics, logging, the service manager's notifications, jobs shared across instances and
//! configuration reload. Nothing here is on a message's path; everything here watches it or
//! keeps the store tidy. See `ARCHITECTURE.md`.

pub mod audit;
pub mod cluster;
pub mod deadlines;
pub mod logging;
pub mod reload;
pub mod retention;
pub mod systemd;
pub mod telemetry;
