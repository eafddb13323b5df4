-- Pushes from the national systems (POST /v1/callbacks/{source}): DVCQG dossiers, tax notices and
-- payment receipts, payment-platform confirmations, NBRS and investment results. Each is kept as
-- received (secrets removed) with what it was taken as; deduplication is `inbound_dedupe`
-- (source `callback:<source>`, the push's dedupe key).
CREATE TABLE callbacks_received (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,      -- dvcqg | payment | nbrs | investment
    event        TEXT NOT NULL,      -- what the center was told, e.g. payment.confirmed
    dedupe_key   TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    body_sha256  TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX callbacks_by_dossier ON callbacks_received (dossier_code, id);
