//! Test support for Lienthong: portal simulators that speak real HTTP on loopback, helpers that
//! run the real `lienthong` binary, and (in `src/bin/loadgen.rs`) the load generator.
//!
//! The simulators are also what `lienthong demo` talks to.

pub mod axis_sim;
pub mod center_sim;
pub mod dvcqg_sim;
pub mod emc_sim;
pub mod file_server;
pub mod gateway_process;
pub mod investment_sim;
pub mod national;
pub mod nbrs_sim;
pub mod ocsp_responder;
pub mod peer_sim;
pub mod postgres;
pub mod pushers;
pub mod signatures;
pub mod softhsm;
pub mod token_issuer;
pub mod tsa_sim;
pub mod two_level;

pub use dvcqg_sim::{DvcqgSim, FailKind, Faults, SimCredentials};
