//! The store's SQL, written once and compiled for each driver.
//!
//! This module is included twice, by `store/sqlite.rs` and by `store/postgres.rs`, each of which
//! defines `Conn` (its driver's connection), `Pool` and `DIALECT` before including it. The
//! statements use what both dialects accept (`$N` parameters, `ON CONFLICT`, `RETURNING`, row
//! values, BIGINT/TEXT/BOOLEAN columns); where they must differ (row locks, `SKIP LOCKED`, the
//! claim statement) the code branches on `DIALECT`. Compiling one source per driver keeps both
//! stores' behaviour identical without sqlx's generic-executor trait bounds on every function.

pub(in crate::store) mod audit;
mod batch;
mod callbacks;
mod dedupe;
mod delivery;
mod exchange;
mod followups;
mod intake;
mod jobs;
mod nonces;
pub(in crate::store) mod reads;
mod retention;
mod sessions;
mod tokens;

use super::{Conn, DIALECT, Db, Pool};
use crate::records::audit::{AuditEntry, Direction};
use crate::store::Dialect;
use crate::store::delivery::Completion;
use crate::store::intake::{IntakeOutcome, NewDossier};
use crate::store::op::{Done, Op};

/// Runs `ops` in order on `conn`, inside the one transaction the backend opened for them; their
/// results, in the same order. A run of two or more new dossiers in a row is written together
/// (see `batch`), and so is a run of completions: the same results, with a few statements
/// instead of three or more per dossier or delivered message.
///
/// Errors: the first statement that failed; the caller rolls the whole group back.
pub(in crate::store) async fn execute_all(
    conn: &mut Conn,
    ops: &[Op],
) -> Result<Vec<Done>, sqlx::Error> {
    let mut results = Vec::with_capacity(ops.len());
    let mut rest = ops;
    while let Some(first) = rest.first() {
        let taken = match first {
            Op::NewDossier(..) => {
                let run: Vec<&NewDossier> = rest
                    .iter()
                    .map_while(|op| match op {
                        Op::NewDossier(d, _) => Some(d),
                        _ => None,
                    })
                    .collect();
                let outcomes = batch::new_dossiers(conn, &run).await?;
                results.extend(outcomes.into_iter().map(Done::Intake));
                run.len()
            }
            // Consecutive completions (the dispatcher's, one per attempt) are recorded together.
            Op::Complete(..) => {
                let run: Vec<(&str, &[Completion])> = rest
                    .iter()
                    .map_while(|op| match op {
                        Op::Complete(owner, c, _) => Some((owner.as_str(), c.as_slice())),
                        _ => None,
                    })
                    .collect();
                delivery::complete(conn, &run).await?;
                results.extend(run.iter().map(|_| Done::Unit));
                run.len()
            }
            _ => {
                results.push(execute(conn, first).await?);
                1
            }
        };
        rest = &rest[taken..];
    }
    Ok(results)
}

/// Runs one operation on `conn`, inside the transaction the backend opened.
pub(in crate::store) async fn execute(conn: &mut Conn, op: &Op) -> Result<Done, sqlx::Error> {
    Ok(match op {
        Op::NewDossier(d, _) => {
            let mut out = batch::new_dossiers(conn, &[d]).await?;
            Done::Intake(out.pop().ok_or(sqlx::Error::RowNotFound)?)
        }
        Op::ReplaceDossier(d, _) => {
            let out = intake::replace_dossier(conn, d).await?;
            if matches!(out, IntakeOutcome::Accepted(_)) {
                audit::append(conn, &from_center(&d.code, &d.code, &d.sha256)).await?;
            }
            Done::Intake(out)
        }
        Op::Event(e, _) => {
            let out = intake::event(conn, e).await?;
            if matches!(out, IntakeOutcome::Accepted(_)) {
                audit::append(conn, &from_center(&e.dossier_code, &e.event_id, &e.sha256)).await?;
            }
            Done::Intake(out)
        }
        Op::LinkAudit(limit, _) => Done::Count(audit::link(conn, *limit).await?),
        Op::StampAudit(s, _) => {
            audit::stamp(conn, s.seq, &s.hash, &s.tsa, &s.token).await?;
            Done::Unit
        }
        Op::Claim(c, _) => Done::Claimed(delivery::claim(conn, c).await?),
        Op::Renew(owner, seqs, lease_ms, _) => {
            Done::Count(delivery::renew(conn, owner, seqs, *lease_ms).await?)
        }
        Op::Complete(owner, c, _) => {
            delivery::complete(conn, &[(owner.as_str(), c.as_slice())]).await?;
            Done::Unit
        }
        Op::Release(which, _) => Done::Count(delivery::release(conn, which).await?),
        Op::Replay(id, _) => Done::Replay(delivery::replay(conn, id).await?),
        Op::Receive(r, _) => Done::Received(exchange::receive(conn, r).await?),
        Op::Callback(r, _) => Done::Callback(callbacks::receive(conn, r).await?),
        Op::Followup(u, _) => Done::Followup(followups::record(conn, u).await?),
        Op::Purge(p, _) => Done::Purged(retention::purge(conn, p).await?),
        Op::AcquireJob(job, owner, lease_ms, _) => {
            Done::Held(jobs::acquire(conn, job, owner, *lease_ms).await?)
        }
        Op::ReleaseJob(job, owner, _) => {
            jobs::release(conn, job, owner).await?;
            Done::Unit
        }
        Op::Nonce(keyid, nonce, until_ms, _) => {
            Done::Held(nonces::remember(conn, keyid, nonce, *until_ms).await?)
        }
        Op::SessionStart(id, role, until_ms, _) => {
            sessions::start(conn, id, role, *until_ms).await?;
            Done::Unit
        }
        Op::SessionEnd(id, _) => {
            sessions::end(conn, id).await?;
            Done::Unit
        }
        Op::TokenEnsure(role, candidate, _) => {
            Done::Text(tokens::ensure(conn, role, candidate).await?)
        }
        Op::Stop(_) => Done::Unit,
    })
}

/// The audit record of what the center submitted (a dossier, its new data, a status event).
fn from_center(dossier_code: &str, message_id: &str, sha256: &str) -> AuditEntry {
    AuditEntry {
        direction: Direction::Received,
        peer: "center".to_owned(),
        dossier_code: dossier_code.to_owned(),
        message_id: message_id.to_owned(),
        payload_sha256: Some(sha256.to_owned()),
        signature: None,
        peer_certificate_sha256: None,
        outcome: "accepted".to_owned(),
    }
}

/// The statement for this dialect: PostgreSQL's when it needs a row lock or `SKIP LOCKED` that
/// SQLite (one writer, whole-database lock) neither has nor needs.
const fn dialect(sqlite: &'static str, postgres: &'static str) -> &'static str {
    match DIALECT {
        Dialect::Sqlite => sqlite,
        Dialect::Postgres => postgres,
    }
}
