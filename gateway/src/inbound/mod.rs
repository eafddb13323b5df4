//! Inbound (nhận vào): what other systems send to the gateway — pushes from national systems
//! (callbacks) and dossiers and statuses from other centers over the document-exchange axis or
//! peer to peer (edXML exchange), pushed or pulled. Each is verified, deduplicated, stored and
//! forwarded to the center. The push sources are the registry `config::PUSH_SOURCES`, each
//! read by its connector folder (`lienthong_connectors::push::PushSource`); edXML is read by
//! the peer kind (`lienthong_connectors::peer::inbound`). See `ARCHITECTURE.md`.

pub mod callbacks;
pub mod exchange;
pub mod follow;
