-- Following dossiers that a destination decides itself (NBRS registrations): the destination's
-- reference (receipt number) kept on the delivery, and one row per (destination, dossier) that
-- the poller asks about until the destination reports a final status.
ALTER TABLE deliveries ADD COLUMN portal_reference TEXT;

CREATE TABLE followups (
    destination  TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    reference    TEXT NOT NULL,      -- e.g. NBRS IN_JOURNAL_NO
    last_code    TEXT,               -- the destination's status code last recorded
    final        INTEGER NOT NULL DEFAULT 0,
    polls        INTEGER NOT NULL DEFAULT 0,
    next_poll_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (destination, dossier_code)
) STRICT;
CREATE INDEX followups_due ON followups (destination, final, next_poll_at);
