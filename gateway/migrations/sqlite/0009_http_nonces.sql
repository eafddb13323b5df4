-- Nonces of verified RFC 9421 request signatures ([[server.signed_routes]]), each kept until the
-- end of its signature's acceptance window: a signed request is accepted once, across restarts
-- (and, on PostgreSQL, across every instance sharing the store). Expired rows are removed a few
-- at a time as new nonces are recorded.
CREATE TABLE http_nonces (
    keyid    TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (keyid, nonce)
) STRICT;
CREATE INDEX http_nonces_by_expiry ON http_nonces (until_ms);
