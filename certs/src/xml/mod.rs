//! XML for signatures: a safe parser into a small tree ([`dom`]) and canonicalization
//! ([`c14n`]). XML-DSig itself is in [`crate::xmldsig`].

pub mod c14n;
pub mod dom;

pub use c14n::{Apex, Method, canonicalize};
pub use dom::{Document, Limits, NodeId, XmlError};
