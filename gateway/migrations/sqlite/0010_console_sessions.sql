-- Console sessions (phiên đăng nhập bảng điều khiển): the browser keeps a random id in a cookie;
-- the store keeps its SHA-256, the role it was given (operator or viewer) and when it ends, so
-- every instance knows it, a restart keeps it, and logging out ends it everywhere.
CREATE TABLE console_sessions (
    id_sha256 TEXT NOT NULL PRIMARY KEY,
    role      TEXT NOT NULL,
    until_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX console_sessions_by_expiry ON console_sessions (until_ms);
