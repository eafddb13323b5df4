//! Storing what another center sent (liên thông): the received edXML as evidence, its effect on
//! the dossier, the notices for the center and the answer, in one transaction.

use sqlx::Row;

use super::intake::queue;
use super::{Conn, dialect};
use crate::store::exchange::{ExchangeReceipt, ReceiptEffect, ReceiptOutcome};
use crate::store::now_ms;

pub(super) async fn receive(
    conn: &mut Conn,
    r: &ExchangeReceipt,
) -> Result<ReceiptOutcome, sqlx::Error> {
    if let Some(answer) = super::dedupe::original_answer(conn, &r.source, &r.dedupe_key).await? {
        return Ok(ReceiptOutcome::Repeat(answer));
    }
    let now = now_ms();
    let existing = sqlx::query(dialect(
        "SELECT status, destinations, origin_peer FROM dossiers WHERE code = $1",
        "SELECT status, destinations, origin_peer FROM dossiers WHERE code = $1 FOR UPDATE",
    ))
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
            facts,
        } => {
            let effect = match &existing {
                None if *business_doc_type == 1 => return Ok(ReceiptOutcome::UnknownDossier),
                None => {
                    let destinations =
                        serde_json::to_string(&[reply_destination]).unwrap_or_else(|_| "[]".into());
                    sqlx::query(
                        "INSERT INTO dossiers (code, body, body_sha256, status, destinations, version, intake_answer,
                                               created_at, updated_at, origin_peer, origin_document)
                         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10)",
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
                    set_facts(conn, &r.dossier_code, facts.as_ref()).await?;
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
                        super::intake::set_status(conn, &r.dossier_code, withdrawn.as_str(), now)
                            .await?;
                        "revoked"
                    } else {
                        "recorded"
                    }
                }
                Some(_) => {
                    sqlx::query(
                        "UPDATE dossiers SET body = $1, body_sha256 = $2, version = version + 1, updated_at = $3
                         WHERE code = $4",
                    )
                    .bind(body)
                    .bind(sha256)
                    .bind(now)
                    .bind(&r.dossier_code)
                    .execute(&mut *conn)
                    .await?;
                    set_facts(conn, &r.dossier_code, facts.as_ref()).await?;
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
            super::intake::insert_event(
                conn,
                &r.dossier_code,
                &format!("exchange:{}:{}", r.source, r.dedupe_key),
                recorded,
                (event, &r.sha256, &r.answer),
                now,
            )
            .await?;
            let effect = match moved {
                Some(s) => {
                    super::intake::set_status(conn, &r.dossier_code, s.as_str(), now).await?;
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
    super::audit::append(
        conn,
        &crate::records::audit::AuditEntry {
            direction: crate::records::audit::Direction::Received,
            peer: r.source.clone(),
            dossier_code: r.dossier_code.clone(),
            message_id: r.document_id.clone(),
            payload_sha256: Some(r.sha256.clone()),
            signature: Some(r.signature_value.clone()),
            peer_certificate_sha256: r.signer_certificate_sha256.clone(),
            outcome: effect.to_owned(),
        },
    )
    .await?;
    Ok(ReceiptOutcome::Stored {
        answer: r.answer.clone(),
        effect: effect.to_owned(),
    })
}

/// Writes a received dossier's deadline facts (when its canonical data came with it).
async fn set_facts(
    conn: &mut Conn,
    code: &str,
    facts: Option<&crate::records::deadlines::DossierFacts>,
) -> Result<(), sqlx::Error> {
    let Some(f) = facts else { return Ok(()) };
    sqlx::query(
        "UPDATE dossiers SET due_at = $1, received_at = $2, agency_code = $3, procedure_code = $4, field_code = $5
         WHERE code = $6",
    )
    .bind(f.due_at)
    .bind(f.received_at)
    .bind(&f.agency_code)
    .bind(&f.procedure_code)
    .bind(&f.field_code)
    .bind(code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
