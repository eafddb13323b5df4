//! Trust material (chứng thư số, khóa, tin cậy): the TLS and signing set-up built from the
//! certificates, keys (files or PKCS#11 tokens) and trust anchors the configuration names
//! ([`security`]; read once with the rest in `crate::loaded`), and certificate revocation
//! checks ([`revocation`]). See `ARCHITECTURE.md`.

mod material;
pub mod revocation;
pub mod security;
