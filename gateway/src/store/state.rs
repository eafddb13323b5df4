//! The state of a delivery (one message to one destination), as the `deliveries.state` column
//! holds it. This enum is the one list of states: Rust code matches on it, and the SQL of
//! `ops/` names states only as these words (a unit test reads the SQL and the migrations'
//! `CHECK` constraint and holds them to this list).

use serde::Serialize;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Queued, never attempted (or replayed).
    Pending,
    /// Claimed by a dispatcher, under its lease.
    InFlight,
    /// Failed, waiting for its next attempt.
    RetryWait,
    /// Taken by the destination.
    Delivered,
    /// Given up on (refused, or out of attempts or age): a dead letter, replayable.
    Dead,
    /// Withdrawn by an operator; replayable.
    Cancelled,
}

impl DeliveryState {
    /// Every state, in the order screens list them.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::InFlight,
        Self::RetryWait,
        Self::Delivered,
        Self::Dead,
        Self::Cancelled,
    ];

    /// The stored word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::RetryWait => "retry_wait",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored word; `None` for anything else.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Waiting for an attempt (it has a next attempt time).
    pub const fn is_due(self) -> bool {
        matches!(self, Self::Pending | Self::RetryWait)
    }

    /// Still to be delivered (waiting or in flight).
    pub const fn is_queued(self) -> bool {
        matches!(self, Self::Pending | Self::InFlight | Self::RetryWait)
    }

    /// An operator may send it again (`deliveries replay`).
    pub const fn is_replayable(self) -> bool {
        matches!(self, Self::Dead | Self::Cancelled)
    }

    /// The words of `states`, joined with ", " (for messages naming what is allowed).
    pub fn list(states: &[Self]) -> String {
        states
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: a width given by the caller (a table column) is honoured.
        f.pad(self.as_str())
    }
}

/// A stored state word as read from the `state` column.
///
/// Errors: a word that is no state (the `CHECK` constraint prevents it).
pub(crate) fn from_column(word: &str) -> Result<DeliveryState, sqlx::Error> {
    DeliveryState::parse(word).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "state".to_owned(),
        source: format!("`{word}` is not a delivery state").into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_serialise_as_stored() {
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::Value::String(s.as_str().to_owned())
            );
        }
        assert_eq!(DeliveryState::parse("retry"), None);
    }

    /// The quoted words the SQL compares or sets `state` with: `state = 'x'`,
    /// `state IN ('x', …)`, `state NOT IN (…)`, `SET state = CASE … THEN 'x' ELSE 'y' END`.
    fn state_words(sql: &str) -> Vec<String> {
        let quoted = |text: &str| -> Vec<String> {
            text.split('\'')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        let mut words = Vec::new();
        for (i, _) in sql
            .match_indices("state IN (")
            .chain(sql.match_indices("state NOT IN ("))
        {
            let list = sql[i..].split(')').next().unwrap_or_default();
            words.extend(quoted(list));
        }
        for (i, _) in sql.match_indices("state = '") {
            words.extend(quoted(&sql[i..]).into_iter().take(1));
        }
        for (i, _) in sql.match_indices("state = CASE") {
            let case = sql[i..].split("END").next().unwrap_or_default();
            words.extend(quoted(case));
        }
        words
    }

    #[test]
    fn the_sql_and_the_migrations_name_only_these_states() {
        let sources = [
            include_str!("ops/delivery.rs"),
            include_str!("ops/reads/mod.rs"),
            include_str!("ops/reads/audit.rs"),
            include_str!("ops/reads/deadlines.rs"),
            include_str!("ops/retention.rs"),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for sql in sources {
            for w in state_words(sql) {
                assert!(
                    DeliveryState::parse(&w).is_some(),
                    "the SQL names `{w}`, which is not a DeliveryState"
                );
                seen.insert(w);
            }
        }
        assert!(seen.len() >= 5, "the scan found the states: {seen:?}");
        for migration in [
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/postgres/0001_init.sql"),
        ] {
            let check = migration
                .split("state            TEXT NOT NULL CHECK (state IN")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .expect("the deliveries.state CHECK constraint");
            let words: Vec<&str> = check.split('\'').skip(1).step_by(2).collect();
            assert_eq!(
                words,
                DeliveryState::ALL.map(DeliveryState::as_str),
                "the CHECK constraint lists exactly the states, in order"
            );
        }
    }
}
