//! Test support for Lienthong's end-to-end tests (`tests/tests/`): the portal simulators and
//! the harness that runs the real `lienthong` binary (re-exported from
//! [`lienthong_simulators`], which the demo shares), a throwaway PostgreSQL database per test
//! ([`postgres`]) and a SoftHSM2 token ([`softhsm`]). The load generator and the exchange
//! benchmark are in `src/bin/`.

pub use lienthong_simulators::*;

pub mod postgres;
pub mod softhsm;
