-- Lienthong store, SQLite. Times are Unix milliseconds (UTC).

-- Dossiers (hồ sơ) as accepted from the center.
CREATE TABLE dossiers (
    code          TEXT PRIMARY KEY,
    body          TEXT NOT NULL,       -- canonical JSON, as normalised at intake
    body_sha256   TEXT NOT NULL,
    status        TEXT NOT NULL,       -- current canonical status
    destinations  TEXT NOT NULL,       -- JSON array of destination names it was routed to
    version       INTEGER NOT NULL,
    intake_answer TEXT NOT NULL,       -- the 202 body, answered again to an identical repeat
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Status events from the center, in arrival order per dossier.
CREATE TABLE status_events (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    event_id     TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    body_sha256  TEXT NOT NULL,
    answer       TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (dossier_code, event_id)
) STRICT;

-- Messages: one thing to send to one destination. Immutable once written.
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- global order; per-lane order follows it
    id           TEXT NOT NULL UNIQUE,                -- stable id (UUID v7) receivers deduplicate on
    dossier_code TEXT NOT NULL,
    destination  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,                       -- canonical content, rendered at send time
    created_at   INTEGER NOT NULL
) STRICT;

-- Deliveries: the state of each message's delivery.
CREATE TABLE deliveries (
    message_seq      INTEGER PRIMARY KEY REFERENCES messages(seq),
    dossier_code     TEXT NOT NULL,
    destination      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN
                       ('pending', 'in_flight', 'retry_wait', 'delivered', 'dead', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    age_from         INTEGER NOT NULL,   -- max_age counts from here (queued, or replayed)
    lease_owner      TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    last_http_status INTEGER,
    portal_code      TEXT,
    portal_message   TEXT,
    updated_at       INTEGER NOT NULL,
    delivered_at     INTEGER
) STRICT;
-- Claiming scans due deliveries of one destination in (state, next_attempt_at) order.
CREATE INDEX deliveries_due ON deliveries (destination, state, next_attempt_at);
-- A (dossier, destination) lane in message order: "is an earlier message still undelivered?"
CREATE INDEX deliveries_lane ON deliveries (dossier_code, destination, message_seq);

-- Every attempt, kept for operators and audits.
CREATE TABLE attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    message_seq    INTEGER NOT NULL REFERENCES messages(seq),
    attempt        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    outcome        TEXT NOT NULL,      -- delivered | retry | rejected
    decision       TEXT NOT NULL,      -- delivered | retry_wait | dead
    http_status    INTEGER,
    error          TEXT,
    portal_code    TEXT,
    portal_message TEXT,
    retry_delay_ms INTEGER,            -- delay chosen before the next attempt
    batch_size     INTEGER NOT NULL
) STRICT;
CREATE INDEX attempts_by_message ON attempts (message_seq);

-- Inbound messages (callbacks, exchange) by (source, message id): a duplicate gets the original answer.
CREATE TABLE inbound_dedupe (
    source      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    answer      TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, message_id)
) STRICT;
