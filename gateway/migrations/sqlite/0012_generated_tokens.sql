-- Bearer tokens the gateway generated at its first start (mã truy cập tự sinh), for the roles the
-- configuration gives no credential of its own (`server.admin_token_file`,
-- `server.center_token_file`). Kept in the store so that every instance sharing it accepts the
-- same token, and copied (mode 0600) into the state directory for the operator and the CLI.
CREATE TABLE generated_tokens (
    role       TEXT NOT NULL PRIMARY KEY,
    token      TEXT NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;
