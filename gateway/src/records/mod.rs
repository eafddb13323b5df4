//! The shapes of what the store keeps that other parts read too (bản ghi): audit records and
//! their hash chain, and the deadline facts and counts. Plain types and pure functions: a leaf
//! below the store, naming nothing else of the gateway. See `ARCHITECTURE.md`.

pub mod audit;
pub mod deadlines;
