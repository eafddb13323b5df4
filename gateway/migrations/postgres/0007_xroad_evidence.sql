-- What ties an attempt made through an X-Road Security Server to the Security Servers' own
-- message logs (bằng chứng X-Road): the X-Road-Id sent, and the X-Road-Request-Id and
-- X-Road-Request-Hash of the answer. Empty for destinations reached directly.
ALTER TABLE attempts ADD COLUMN xroad_id TEXT;
ALTER TABLE attempts ADD COLUMN xroad_request_id TEXT;
ALTER TABLE attempts ADD COLUMN xroad_request_hash TEXT;
