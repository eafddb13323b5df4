-- Message bodies (nội dung thông điệp), stored once however many destinations take them: the
-- messages of one dossier to N destinations carry the same canonical body, and each message now
-- names it by its SHA-256 instead of holding a copy. Messages written before this migration keep
-- their body inline (`messages.body`); new ones leave it empty.
CREATE TABLE message_bodies (
    sha256     TEXT NOT NULL PRIMARY KEY,
    body       TEXT NOT NULL,
    touched_at INTEGER NOT NULL   -- last queued with: retention keeps a body a new message takes
) STRICT;
CREATE INDEX message_bodies_by_touch ON message_bodies (touched_at);
ALTER TABLE messages ADD COLUMN body_sha256 TEXT REFERENCES message_bodies (sha256);
-- Only messages that name a shared body are indexed: a one-destination message (body inline,
-- no name) costs no index entry at intake.
CREATE INDEX messages_by_body ON messages (body_sha256) WHERE body_sha256 IS NOT NULL;
