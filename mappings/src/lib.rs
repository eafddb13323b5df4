//! The canonical dossier model of Lienthong and its translations into each portal's format.
//!
//! - [`model`]: the dossier and status-event types the center sends, with validation that names
//!   the failing field.
//! - [`engine`]: the mapping engine; portal formats are data (`specs/<kind>/*.toml`), compiled and
//!   checked at load time, rendered as pure JSON → JSON functions.
//!
//! This crate knows nothing of HTTP or storage.

pub mod engine;
pub mod model;
pub mod validation;

pub use engine::{LoadError, MappingSet, RenderError};
pub use model::{
    Actor, Agency, Attachment, Dossier, DossierContext, DossierStatus, ExchangeAction,
    ExchangeInput, PaymentChannel, ProgressInput, StatusEvent, TraceHop,
};
pub use validation::{FieldError, ValidationErrors};

/// The JSON Schema of the canonical dossier, as served at `GET /v1/schema/dossier`.
pub fn dossier_schema() -> serde_json::Value {
    schemars::schema_for!(model::Dossier).to_value()
}

/// The JSON Schema of a status event.
pub fn event_schema() -> serde_json::Value {
    schemars::schema_for!(model::StatusEvent).to_value()
}
