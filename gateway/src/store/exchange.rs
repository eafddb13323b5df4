//! Storing what another center sent (liên thông): the received edXML as evidence, its effect on
//! the dossier, the notices for the center, and the answer — in one transaction, keyed by
//! `(sender, dedupe key)` so a resend gets the original answer and changes nothing.

use sqlx::{Row, SqliteConnection};

use super::now_ms;
use super::writer::{NewMessage, queue};

/// What a received message does to the dossier.
#[derive(Debug, Clone)]
pub enum ReceiptEffect {
    /// A dossier message: create the dossier, or refresh it (BussinessDocType 0, 2, 3), or
    /// withdraw it (1, revoke).
    Dossier {
        /// BussinessDocType.
        business_doc_type: u8,
        /// The dossier as stored (canonical JSON, or the header's summary).
        body: String,
        /// Its SHA-256.
        sha256: String,
        /// Status of a new dossier.
        status: String,
        /// Where statuses about it go (the sender's peer destination).
        reply_destination: String,
    },
    /// A status message about a dossier exchanged with the sender.
    Status {
        /// edXML StatusCode.
        status_code: String,
        /// The canonical status it moves the dossier to, if any (01, 15, 16 move nothing).
        status: Option<lienthong_mappings::DossierStatus>,
        /// The status as recorded in the dossier's events (JSON).
        event: String,
        /// The sender's peer destination (the dossier must have been exchanged with it).
        peer_destination: String,
    },
}

/// A received, verified message ready to be stored.
#[derive(Debug, Clone)]
pub struct ExchangeReceipt {
    /// Sender's agency code.
    pub source: String,
    /// Deduplication key (see `Inbound::dedupe_key`).
    pub dedupe_key: String,
    /// DocumentId (of the message, or the one a status answers).
    pub document_id: String,
    /// Dossier code.
    pub dossier_code: String,
    /// Signer's subject.
    pub signer: String,
    /// XML-DSig SignatureValue.
    pub signature_value: String,
    /// The document as received.
    pub xml: std::sync::Arc<str>,
    /// Its SHA-256.
    pub sha256: String,
    /// The signed answer, kept for resends.
    pub answer: String,
    /// What it does.
    pub effect: ReceiptEffect,
    /// Notices for the center.
    pub notices: Vec<NewMessage>,
}

/// What storing a received message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Stored; the effect recorded (`created`, `updated`, `revoked`, `status`, `recorded`).
    Stored {
        /// The answer to send.
        answer: String,
        /// What it did.
        effect: String,
    },
    /// Received before: the original answer.
    Repeat(String),
    /// The dossier it concerns is not exchanged with this sender (nothing stored): 403.
    NotYours(String),
    /// A status about a dossier this center does not have (nothing stored): 404.
    UnknownDossier,
}

pub(super) async fn receive(
    conn: &mut SqliteConnection,
    r: &ExchangeReceipt,
) -> Result<ReceiptOutcome, sqlx::Error> {
    if let Some(answer) = super::dedupe::original_answer(conn, &r.source, &r.dedupe_key).await? {
        return Ok(ReceiptOutcome::Repeat(answer));
    }
    let now = now_ms();
    let existing =
        sqlx::query("SELECT status, destinations, origin_peer FROM dossiers WHERE code = ?")
            .bind(&r.dossier_code)
            .fetch_optional(&mut *conn)
            .await?;
    let existing = match existing {
        Some(row) => {
            let status: String = row.try_get(0)?;
            let destinations: String = row.try_get(1)?;
            let origin: Option<String> = row.try_get(2)?;
            Some((status, destinations, origin))
        }
        None => None,
    };
    // A dossier is exchanged with a peer when the peer sent it, or it was sent to the peer.
    let exchanged_with = |destinations: &str, origin: &Option<String>, dest: &str| {
        origin.as_deref() == Some(r.source.as_str())
            || serde_json::from_str::<Vec<String>>(destinations)
                .is_ok_and(|ds| ds.iter().any(|d| d == dest))
    };
    let (kind, business, status_code, effect) = match &r.effect {
        ReceiptEffect::Dossier {
            business_doc_type,
            body,
            sha256,
            status,
            reply_destination,
        } => {
            let effect = match &existing {
                None if *business_doc_type == 1 => return Ok(ReceiptOutcome::UnknownDossier),
                None => {
                    let destinations =
                        serde_json::to_string(&[reply_destination]).unwrap_or_else(|_| "[]".into());
                    sqlx::query(
                        "INSERT INTO dossiers (code, body, body_sha256, status, destinations, version, intake_answer,
                                               created_at, updated_at, origin_peer, origin_document)
                         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                    )
                    .bind(&r.dossier_code)
                    .bind(body)
                    .bind(sha256)
                    .bind(status)
                    .bind(destinations)
                    .bind(&r.answer)
                    .bind(now)
                    .bind(now)
                    .bind(&r.source)
                    .bind(&r.document_id)
                    .execute(&mut *conn)
                    .await?;
                    "created"
                }
                Some((_, destinations, origin))
                    if !exchanged_with(destinations, origin, reply_destination) =>
                {
                    return Ok(ReceiptOutcome::NotYours(format!(
                        "dossier {} is not exchanged with {}",
                        r.dossier_code, r.source
                    )));
                }
                Some((current, _, _)) if *business_doc_type == 1 => {
                    let withdrawn = lienthong_mappings::DossierStatus::Withdrawn;
                    let allowed = lienthong_mappings::DossierStatus::parse(current)
                        .is_none_or(|c| c.allows(withdrawn));
                    if allowed {
                        set_status(conn, &r.dossier_code, withdrawn.as_str(), now).await?;
                        "revoked"
                    } else {
                        "recorded"
                    }
                }
                Some(_) => {
                    sqlx::query(
                        "UPDATE dossiers SET body = ?, body_sha256 = ?, version = version + 1, updated_at = ?
                         WHERE code = ?",
                    )
                    .bind(body)
                    .bind(sha256)
                    .bind(now)
                    .bind(&r.dossier_code)
                    .execute(&mut *conn)
                    .await?;
                    "updated"
                }
            };
            ("dossier", Some(i64::from(*business_doc_type)), None, effect)
        }
        ReceiptEffect::Status {
            status_code,
            status,
            event,
            peer_destination,
        } => {
            let Some((current, destinations, origin)) = &existing else {
                return Ok(ReceiptOutcome::UnknownDossier);
            };
            if !exchanged_with(destinations, origin, peer_destination) {
                return Ok(ReceiptOutcome::NotYours(format!(
                    "dossier {} is not exchanged with {}",
                    r.dossier_code, r.source
                )));
            }
            let moved = status.filter(|s| {
                lienthong_mappings::DossierStatus::parse(current).is_none_or(|c| c.allows(*s))
            });
            let recorded = moved.map_or(current.as_str(), |s| s.as_str());
            sqlx::query(
                "INSERT INTO status_events (dossier_code, event_id, seq, status, body, body_sha256, answer, received_at)
                 VALUES (?1, ?2, (SELECT COUNT(*) + 1 FROM status_events WHERE dossier_code = ?1), ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&r.dossier_code)
            .bind(format!("exchange:{}:{}", r.source, r.dedupe_key))
            .bind(recorded)
            .bind(event)
            .bind(&r.sha256)
            .bind(&r.answer)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let effect = match moved {
                Some(s) => {
                    set_status(conn, &r.dossier_code, s.as_str(), now).await?;
                    "status"
                }
                None => "recorded",
            };
            ("status", None, Some(status_code.clone()), effect)
        }
    };
    super::dedupe::remember(conn, &r.source, &r.dedupe_key, &r.sha256, &r.answer, now).await?;
    sqlx::query(
        "INSERT INTO exchange_received (source, dedupe_key, document_id, dossier_code, kind, business_doc_type,
                                        status_code, effect, signer, signature_value, body_sha256, body, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.source)
    .bind(&r.dedupe_key)
    .bind(&r.document_id)
    .bind(&r.dossier_code)
    .bind(kind)
    .bind(business)
    .bind(status_code)
    .bind(effect)
    .bind(&r.signer)
    .bind(&r.signature_value)
    .bind(&r.sha256)
    .bind(r.xml.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    queue(conn, &r.dossier_code, &r.notices, now).await?;
    Ok(ReceiptOutcome::Stored {
        answer: r.answer.clone(),
        effect: effect.to_owned(),
    })
}

async fn set_status(
    conn: &mut SqliteConnection,
    code: &str,
    status: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dossiers SET status = ?, updated_at = ? WHERE code = ?")
        .bind(status)
        .bind(now)
        .bind(code)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
