//! Trust material (chứng thư số, khóa, tin cậy): what the configuration names — certificates,
//! keys on files or tokens, trust anchors, secrets — read once into [`loaded::Loaded`], the TLS
//! and signing set-up built from it ([`security`]), and certificate revocation checks. See
//! `ARCHITECTURE.md`.

pub mod loaded;
pub mod revocation;
pub mod security;
