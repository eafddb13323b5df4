-- Lienthong store, PostgreSQL (several instances on one database). The same tables and meaning
-- as the SQLite migrations 0001-0007, in one step; times are Unix milliseconds (UTC). Every
-- integer is BIGINT (the store reads them all as i64, as on SQLite).

CREATE TABLE dossiers (
    code            TEXT PRIMARY KEY,
    body            TEXT NOT NULL,
    body_sha256     TEXT NOT NULL,
    status          TEXT NOT NULL,
    destinations    TEXT NOT NULL,       -- JSON array of destination names
    version         BIGINT NOT NULL,
    intake_answer   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    origin_peer     TEXT,                -- another center's agency code (liên thông)
    origin_document TEXT                 -- the DocumentId it came in
);
CREATE INDEX dossiers_by_update ON dossiers (updated_at);

CREATE TABLE status_events (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    event_id     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    body_sha256  TEXT NOT NULL,
    answer       TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (dossier_code, event_id)
);

CREATE TABLE messages (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    dossier_code TEXT NOT NULL,
    destination  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX messages_by_dossier ON messages (dossier_code);

CREATE TABLE deliveries (
    message_seq      BIGINT PRIMARY KEY REFERENCES messages(seq),
    dossier_code     TEXT NOT NULL,
    destination      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN
                       ('pending', 'in_flight', 'retry_wait', 'delivered', 'dead', 'cancelled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    age_from         BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    last_http_status BIGINT,
    portal_code      TEXT,
    portal_message   TEXT,
    portal_reference TEXT,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX deliveries_due ON deliveries (destination, state, next_attempt_at);
-- What claims scan: due work of a destination in due order, so a claim reads the first few
-- eligible lane heads and stops instead of sorting the whole backlog.
CREATE INDEX deliveries_claimable ON deliveries (destination, next_attempt_at, message_seq)
    WHERE state IN ('pending', 'retry_wait');
CREATE INDEX deliveries_lane ON deliveries (dossier_code, destination, message_seq);
CREATE INDEX deliveries_finished ON deliveries (state, updated_at);

-- Every message gets its delivery in the statement that writes it.
CREATE FUNCTION messages_start_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deliveries (message_seq, dossier_code, destination, kind, state, next_attempt_at, age_from, updated_at)
    VALUES (NEW.seq, NEW.dossier_code, NEW.destination, NEW.kind, 'pending', NEW.created_at, NEW.created_at, NEW.created_at);
    RETURN NEW;
END;
$$;
CREATE TRIGGER messages_start_delivery AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_start_delivery();

CREATE TABLE attempts (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_seq    BIGINT NOT NULL REFERENCES messages(seq),
    attempt        BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    duration_ms    BIGINT NOT NULL,
    outcome        TEXT NOT NULL,
    decision       TEXT NOT NULL,
    http_status    BIGINT,
    error          TEXT,
    portal_code    TEXT,
    portal_message TEXT,
    retry_delay_ms BIGINT,
    batch_size     BIGINT NOT NULL
);
CREATE INDEX attempts_by_message ON attempts (message_seq);

CREATE TABLE inbound_dedupe (
    source      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    answer      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, message_id)
);
CREATE INDEX inbound_dedupe_by_time ON inbound_dedupe (received_at);

CREATE TABLE exchange_received (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source            TEXT NOT NULL,
    dedupe_key        TEXT NOT NULL,
    document_id       TEXT NOT NULL,
    dossier_code      TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('dossier', 'status')),
    business_doc_type BIGINT,
    status_code       TEXT,
    effect            TEXT NOT NULL,
    signer            TEXT NOT NULL,
    signature_value   TEXT NOT NULL,
    body_sha256       TEXT NOT NULL,
    body              TEXT NOT NULL,
    received_at       BIGINT NOT NULL,
    UNIQUE (source, dedupe_key)
);
CREATE INDEX exchange_received_by_dossier ON exchange_received (dossier_code);

CREATE TABLE callbacks_received (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       TEXT NOT NULL,
    event        TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    body_sha256  TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
CREATE INDEX callbacks_by_dossier ON callbacks_received (dossier_code, id);

CREATE TABLE followups (
    destination  TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    reference    TEXT NOT NULL,
    last_code    TEXT,
    final        BOOLEAN NOT NULL DEFAULT FALSE,
    polls        BIGINT NOT NULL DEFAULT 0,
    next_poll_at BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (destination, dossier_code)
);
CREATE INDEX followups_due ON followups (destination, final, next_poll_at);
CREATE INDEX followups_by_dossier ON followups (dossier_code);

-- Leases of cluster-wide jobs (pollers, retention): one instance runs each at a time.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);
