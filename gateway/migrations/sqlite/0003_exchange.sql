-- Inter-level exchange (liên thông): dossiers and statuses received from other centers.

-- A dossier another center sent us: that center's agency code and the DocumentId it came in
-- (statuses we send back answer it). NULL for the center's own dossiers.
ALTER TABLE dossiers ADD COLUMN origin_peer TEXT;
ALTER TABLE dossiers ADD COLUMN origin_document TEXT;

-- Every edXML message received from another center, kept as received (signed) for evidence,
-- with what it did to the dossier. Deduplication is `inbound_dedupe` (source, dedupe key).
CREATE TABLE exchange_received (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    source            TEXT NOT NULL,      -- sender's agency code (From/OrganId)
    dedupe_key        TEXT NOT NULL,
    document_id       TEXT NOT NULL,
    dossier_code      TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('dossier', 'status')),
    business_doc_type INTEGER,
    status_code       TEXT,
    effect            TEXT NOT NULL,      -- created | updated | revoked | status | recorded
    signer            TEXT NOT NULL,
    signature_value   TEXT NOT NULL,
    body_sha256       TEXT NOT NULL,
    body              TEXT NOT NULL,
    received_at       INTEGER NOT NULL,
    UNIQUE (source, dedupe_key)
) STRICT;
CREATE INDEX exchange_received_by_dossier ON exchange_received (dossier_code);
