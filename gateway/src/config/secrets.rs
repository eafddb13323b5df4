//! Bearer tokens and secret files: how long a token must be, and who may read a secret file.

use super::*;

/// A warning when a secret file can be read by others (mode & 0o007), `None` when it cannot or
/// its mode cannot be read. Group-readable is fine: the runbook installs secrets as 0640
/// `root:lienthong`.
pub fn secret_file_permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o007 != 0).then(|| {
        format!(
            "{} has mode {:o}: every user of the host can read this secret; chmod 600 (or 640 with the service's group)",
            path.display(),
            mode & 0o777
        )
    })
}

/// The shortest bearer token accepted (`server.admin_token`, `server.center_token_file`): 32
/// characters, e.g. `openssl rand -hex 16` or more. A short token could be guessed.
pub const MIN_TOKEN_CHARS: usize = 32;

pub(super) fn token_from_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let token = Secret::from_file(path).map_err(|e| err(key, e.to_string()))?;
    long_enough(key, token)
}

pub(super) fn long_enough(key: &str, token: Secret) -> Result<Secret, ConfigError> {
    let chars = token.expose().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(err(
            key,
            format!(
                "the token has {chars} characters; use at least {MIN_TOKEN_CHARS} (openssl rand -hex 32)"
            ),
        ));
    }
    Ok(token)
}
