//! The peers of Lienthong, simulated on loopback with real HTTP (and real TLS where the peer
//! uses it): the national public service portal (Cổng Dịch vụ công Quốc gia, [`dvcqg_sim`]), the
//! national business registration system ([`nbrs_sim`]), the investment information system
//! ([`investment_sim`]), the government e-mail-and-document channel ([`emc_sim`], [`axis_sim`]),
//! lower-level one-stop centers (liên thông, [`peer_sim`], [`two_level`]), an X-Road Security Server
//! ([`security_server`]), the center's own
//! system that receives notices ([`center_sim`]), document stores, token issuers, a time-stamping
//! authority and an OCSP responder.
//!
//! Also the harness that runs the real `lienthong` binary ([`gateway_process`]). The demo
//! (`lienthong-demo`) and the end-to-end tests (`lienthong-tests`) use this crate; the gateway
//! itself never does, so the daemon links no simulator and no test PKI.

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
pub mod pushers;
pub mod security_server;
pub mod signatures;
pub mod token_issuer;
pub mod tsa_sim;
pub mod two_level;

pub use dvcqg_sim::{DvcqgSim, FailKind, Faults, SimCredentials};
