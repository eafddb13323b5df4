//! The writer's requests and answers, as data: what each store operation is given and what
//! it comes to. Below both the operations (`store/<concern>.rs`, which submit them) and the
//! writer's `op.rs` (which carries them), so that neither names the other's module.

pub mod audit;
pub mod callbacks;
pub mod delivery;
pub mod exchange;
pub mod followups;
pub mod intake;
pub mod retention;
