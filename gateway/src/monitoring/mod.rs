//! What the gateway tells the outside about itself (giám sát): Prometheus metrics, structured
//! logs, the service manager's notifications (readiness, watchdog). A leaf: it names no other
//! part of the gateway, so every part may report through it. See `ARCHITECTURE.md`.

pub mod logging;
pub mod systemd;
pub mod telemetry;
