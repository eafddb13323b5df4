//! The answer a receiving center gives to an edXML message: a signed edXML status message
//! (`MessageStatus`) about the received document — `01` (arrived) once it is stored.
//!
//! It is rendered by the same `status` mapping as the status messages a center sends later, so
//! the answer and a later `03`/`05`/`06` look alike to the peer.

use lienthong_mappings::engine::InputKind;

use super::BUILTIN_MAPPINGS;
use lienthong_mappings::{
    Actor, Agency, DossierStatus, ExchangeInput, MappingSet, ProgressInput, RenderError,
    StatusEvent,
};
use time::OffsetDateTime;

use super::inbound::Inbound;
use super::{Sender, sign_edxml};
use crate::BuildError;

/// Renders and signs answers as the center (`From` = the center's agency).
pub struct Answerer {
    sender: Sender,
    mappings: MappingSet,
}

impl std::fmt::Debug for Answerer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answerer")
            .field("organ_id", &self.sender.organ_id)
            .finish_non_exhaustive()
    }
}

impl Answerer {
    /// An answerer signing with the center's identity.
    ///
    /// Errors: the built-in edXML mappings lack the `status` mapping (a packaging error).
    pub fn new(sender: Sender) -> Result<Self, BuildError> {
        let mappings = MappingSet::from_sources("builtin:edxml", BUILTIN_MAPPINGS)?;
        mappings.require("status", InputKind::Exchange)?;
        Ok(Self { sender, mappings })
    }

    /// The signed `01` (arrived) answer to `received`, dated `now`.
    ///
    /// Errors: the status cannot be rendered or signed (named in the error).
    pub fn arrived(&self, received: &Inbound, now: OffsetDateTime) -> Result<String, RenderError> {
        let mut input = ExchangeInput::envelope(
            Agency {
                code: self.sender.organ_id.clone(),
                name: self.sender.organ_name.clone(),
            },
            Agency {
                code: received.from.clone(),
                name: received.from_name.clone(),
            },
            "01",
            "TT",
            now,
        );
        input.status = Some(ProgressInput {
            dossier: None,
            dossier_code: received.dossier_code.clone(),
            response_for: Some(received.document_id.clone()),
            event: StatusEvent {
                id: format!("arrived-{}", received.document_id),
                at: now,
                status: DossierStatus::Registered,
                actor: Actor {
                    name: self.sender.organ_name.clone(),
                    title: None,
                    unit: None,
                },
                note: Some("Đã đến".into()),
                due_at: None,
                exchange: None,
            },
        });
        let value = crate::message::mapping_input("status", &input)?;
        let xml = self.mappings.render_xml("status", &value)?;
        sign_edxml(&xml, &self.sender.signer).map_err(|e| RenderError {
            mapping: "status".into(),
            target: "Signature".into(),
            input: None,
            message: e.to_string(),
        })
    }
}
