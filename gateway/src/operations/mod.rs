//! Jobs over the store (vận hành): the hash-chained audit log (its chainer, time-stamps and
//! export), processing deadlines, retention, and the leases that run a job once across
//! instances. Nothing here is on a message's path; everything here reads or tidies what the
//! store holds. See `ARCHITECTURE.md`.

pub mod audit;
pub mod cluster;
pub mod retention;
