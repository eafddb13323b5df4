//! New dossiers, alone or in groups: a run of consecutive new-dossier operations (one dossier is
//! a run of one) is written with a few multi-row statements per table (`INSERT … VALUES (…),
//! (…) …`) instead of three or more statements per dossier; [`insert_messages`] also writes the
//! messages of replaced dossiers, events and notices (`intake::queue`).
//!
//! Why: each statement is a round trip to the driver (on SQLite a hand-off to sqlx's worker
//! thread and back, on PostgreSQL a network round trip), and under load those hand-offs, not
//! SQLite's or PostgreSQL's own work, were most of intake's cost (issue 27, BENCHMARKS.md). The
//! result for each dossier is what it would get alone, in the same order: a new code is stored with its messages (each message's delivery is
//! created by the `messages_start_delivery` trigger, as for one row) and its audit record; a code
//! already stored — before the group or earlier in it — is answered as a repeat or a conflict by
//! the same lookup.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{QueryBuilder, Row};

use super::{Conn, Db, from_center, intake};
use crate::records::audit::AuditEntry;
use crate::store::intake::{IntakeOutcome, NewDossier, NewMessage};
use crate::store::now_ms;

/// Most rows in one statement. A run is cut into pieces whose sizes are powers of two up to
/// this (100 dossiers: 64 + 32 + 4), so each table has at most nine statement texts, all kept
/// prepared by the driver's statement cache, and n dossiers cost O(log n) statements. 256 rows of
/// 12 values stay far below both databases' limits on bound parameters (SQLite 32,766,
/// PostgreSQL 65,535).
const MAX_ROWS: usize = 256;

/// `items` cut into pieces of power-of-two sizes, largest first, none over [`MAX_ROWS`].
pub(super) fn pieces<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while let Some(len) = std::num::NonZeroUsize::new(rest.len()) {
        let n = MAX_ROWS.min(1 << len.ilog2());
        let (piece, tail) = rest.split_at(n);
        out.push(piece);
        rest = tail;
    }
    out
}

/// Stores `batch` (new dossiers, in the order they were submitted) in the caller's transaction;
/// one outcome per dossier, in the same order.
///
/// Errors: a statement failed; the caller rolls the group back (nothing of it is stored).
pub(super) async fn new_dossiers(
    conn: &mut Conn,
    batch: &[&NewDossier],
) -> Result<Vec<IntakeOutcome>, sqlx::Error> {
    let now = now_ms();
    let fresh = insert_dossiers(conn, batch, now).await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (d, &stored) in batch.iter().zip(&fresh) {
        outcomes.push(if stored {
            IntakeOutcome::Accepted(d.answer.clone())
        } else {
            intake::existing(conn, d).await?
        });
    }
    let stored: Vec<&NewDossier> = batch
        .iter()
        .zip(&fresh)
        .filter_map(|(d, &stored)| stored.then_some(*d))
        .collect();
    let queued: Vec<(&str, &[NewMessage])> = stored
        .iter()
        .map(|d| (d.code.as_str(), d.messages.as_slice()))
        .collect();
    insert_messages(conn, &queued, now).await?;
    let audit: Vec<AuditEntry> = stored
        .iter()
        .map(|d| from_center(&d.code, &d.code, &d.sha256))
        .collect();
    super::audit::append_all(conn, &audit, now).await?;
    Ok(outcomes)
}

/// Inserts the dossiers whose code is not stored yet; for each of `batch`, whether it was.
async fn insert_dossiers(
    conn: &mut Conn,
    batch: &[&NewDossier],
    now: i64,
) -> Result<Vec<bool>, sqlx::Error> {
    let destinations: Vec<String> = batch
        .iter()
        .map(|d| serde_json::to_string(&d.destinations).unwrap_or_else(|_| "[]".to_owned()))
        .collect();
    let indices: Vec<usize> = (0..batch.len()).collect();
    let mut fresh = vec![false; batch.len()];
    for piece in pieces(&indices) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO dossiers (code, body, body_sha256, status, destinations, version, intake_answer,
                                   created_at, updated_at, due_at, received_at, agency_code,
                                   procedure_code, field_code) ",
        );
        q.push_values(piece, |mut row, &i| {
            let d = batch[i];
            row.push_bind(d.code.as_str())
                .push_bind(d.body.as_str())
                .push_bind(d.sha256.as_str())
                .push_bind(d.status.as_str())
                .push_bind(destinations[i].as_str())
                .push("1")
                .push_bind(d.answer.as_str())
                .push_bind(now)
                .push_bind(now)
                .push_bind(d.facts.due_at)
                .push_bind(d.facts.received_at)
                .push_bind(d.facts.agency_code.as_str())
                .push_bind(d.facts.procedure_code.as_str())
                .push_bind(d.facts.field_code.as_deref());
        });
        // A code repeated within the piece is inserted once, by its first row (both databases
        // take a VALUES list in order); the others are looked up like any repeat.
        q.push(" ON CONFLICT (code) DO NOTHING RETURNING code");
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(piece.len());
        for &i in piece {
            first.entry(batch[i].code.as_str()).or_insert(i);
        }
        for row in q.build().fetch_all(&mut *conn).await? {
            let code: String = row.try_get(0)?;
            if let Some(&i) = first.get(code.as_str()) {
                fresh[i] = true;
            }
        }
    }
    Ok(fresh)
}

/// One message row to write: its dossier, the message, and where its body is (`None`: in the
/// row; else the SHA-256 of its row in `message_bodies`).
type MessageRow<'a> = (&'a str, &'a NewMessage, Option<Arc<str>>);

/// Writes the messages of each `(dossier code, messages)` of `queued`, in order, with a few
/// multi-row statements; see [`intake::queue`] for where each body is stored.
pub(super) async fn insert_messages(
    conn: &mut Conn,
    queued: &[(&str, &[NewMessage])],
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut rows: Vec<MessageRow<'_>> = Vec::new();
    let mut bodies: Vec<(Arc<str>, &Arc<str>)> = Vec::new();
    for &(code, messages) in queued {
        let mut digests: Vec<(&Arc<str>, Arc<str>)> = Vec::new();
        for m in messages {
            let shared = messages
                .iter()
                .filter(|other| Arc::ptr_eq(&other.body, &m.body))
                .nth(1)
                .is_some();
            let sha = shared.then(|| {
                if let Some((_, sha)) = digests.iter().find(|(b, _)| Arc::ptr_eq(b, &m.body)) {
                    return sha.clone();
                }
                let sha: Arc<str> = lienthong_certs::sha256_hex(m.body.as_bytes()).into();
                digests.push((&m.body, sha.clone()));
                if !bodies.iter().any(|(known, _)| *known == sha) {
                    bodies.push((sha.clone(), &m.body));
                }
                sha
            });
            rows.push((code, m, sha));
        }
    }
    for piece in pieces(&bodies) {
        let mut q =
            QueryBuilder::<Db>::new("INSERT INTO message_bodies (sha256, body, touched_at) ");
        q.push_values(piece, |mut row, (sha, body)| {
            row.push_bind(&**sha)
                .push_bind((*body).clone())
                .push_bind(now);
        });
        // A body stored before is touched: on PostgreSQL that locks its row until this
        // transaction ends, so retention cannot remove it under a message being written.
        q.push(" ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at");
        q.build().execute(&mut *conn).await?;
    }
    for piece in pieces(&rows) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO messages (id, dossier_code, destination, kind, body, body_sha256, created_at) ",
        );
        q.push_values(piece, |mut row, (code, m, sha)| {
            let body: Arc<str> = if sha.is_some() {
                Arc::from("")
            } else {
                m.body.clone()
            };
            row.push_bind(m.id.as_str())
                .push_bind(*code)
                .push_bind(m.destination.as_str())
                .push_bind(m.kind.as_str())
                .push_bind(body)
                .push_bind(sha.as_deref())
                .push_bind(now);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{MAX_ROWS, pieces};

    #[test]
    fn pieces_are_powers_of_two_in_order_and_cover_everything() {
        for n in 0..=(3 * MAX_ROWS + 7) {
            let items: Vec<usize> = (0..n).collect();
            let cut = pieces(&items);
            let joined: Vec<usize> = cut.iter().flat_map(|p| p.iter().copied()).collect();
            assert_eq!(joined, items, "n = {n}");
            for p in &cut {
                assert!(
                    p.len().is_power_of_two() && p.len() <= MAX_ROWS,
                    "n = {n}: {}",
                    p.len()
                );
            }
            assert!(cut.windows(2).all(|w| w[0].len() >= w[1].len()), "n = {n}");
        }
        assert_eq!(
            pieces(&[0; 100])
                .iter()
                .map(|p| p.len())
                .collect::<Vec<_>>(),
            [64, 32, 4]
        );
    }
}
