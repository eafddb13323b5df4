//! Who may call what (xác thực và phân quyền): the roles, the bearer tokens, client
//! certificates and X-Road clients that name a caller, the administrators' rules, and the
//! rules that say which caller may use which part of the HTTP API and the console. Every
//! route goes through `http::guard`, which gathers what a request presents and asks these
//! rules; a refusal is a [`Refusal`], phrased as a problem by the HTTP layer. See
//! `ARCHITECTURE.md`.

pub mod access;
pub mod admin;
pub mod caller;
pub mod client;
pub mod refusal;
pub mod tokens;
mod warnings;

pub use caller::Caller;
pub use refusal::Refusal;
