-- The audit log (nhật ký kiểm toán): every message sent and received, appended in the
-- transaction that sends or stores it (seq, prev_hash and hash NULL), then linked into a hash
-- chain by the chainer in id order (seq = position, hash = SHA-256 over prev_hash and the
-- record). `lienthong audit verify` recomputes the chain.
CREATE TABLE audit_log (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    seq                     INTEGER UNIQUE,
    at                      INTEGER NOT NULL,
    direction               TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
    peer                    TEXT NOT NULL,
    dossier_code            TEXT NOT NULL,
    message_id              TEXT NOT NULL,
    payload_sha256          TEXT,
    signature               TEXT,
    peer_certificate_sha256 TEXT,
    outcome                 TEXT NOT NULL,
    prev_hash               TEXT,
    hash                    TEXT
) STRICT;
CREATE INDEX audit_unchained ON audit_log (id) WHERE seq IS NULL;
CREATE INDEX audit_by_dossier ON audit_log (dossier_code);

-- RFC 3161 time-stamps of the chain head (dấu thời gian): the token of the TSA over the hash of
-- record `seq`.
CREATE TABLE audit_stamps (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    tsa        TEXT NOT NULL,
    token      BLOB NOT NULL,
    stamped_at INTEGER NOT NULL
) STRICT;

-- Deadlines (hạn giải quyết): a dossier's due date, when it was returned, and what the
-- statistics group by. Filled at intake and by status events; NULL for dossiers stored before.
ALTER TABLE dossiers ADD COLUMN due_at INTEGER;
ALTER TABLE dossiers ADD COLUMN returned_at INTEGER;
ALTER TABLE dossiers ADD COLUMN received_at INTEGER;
ALTER TABLE dossiers ADD COLUMN agency_code TEXT;
ALTER TABLE dossiers ADD COLUMN procedure_code TEXT;
ALTER TABLE dossiers ADD COLUMN field_code TEXT;
CREATE INDEX dossiers_by_due ON dossiers (due_at);
