-- Nonces of verified RFC 9421 request signatures ([[server.signed_routes]]), each kept until the
-- end of its signature's acceptance window: a signed request accepted by one instance is a
-- replay at every other one and after a restart. Expired rows are removed a few at a time as new
-- nonces are recorded.
CREATE TABLE http_nonces (
    keyid    TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (keyid, nonce)
);
CREATE INDEX http_nonces_by_expiry ON http_nonces (until_ms);
