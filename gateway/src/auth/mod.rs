//! Who may call what (xác thực và phân quyền): the roles, the bearer tokens, client
//! certificates and HTTP message signatures that name a caller, and the rules that say which
//! caller may use which part of the HTTP API and the console. See `ARCHITECTURE.md`.

pub mod access;
pub mod tokens;
mod warnings;
