//! Bearer tokens generated at the first start (mã truy cập tự sinh): no address is an identity.
//!
//! A role the configuration gives no credential of its own — the admin API without
//! `server.admin_token(_file)` or an admin client-certificate rule, the center's API without
//! `server.center_token_file`, a certificate rule or a signed route — gets a token the first
//! `serve` generates: 256 random bits, hex. It is kept in the store (every instance sharing it
//! accepts the same token; a restart keeps it) and copied, mode 0600, into the state directory
//! (`server.state_dir`: by default beside the SQLite file, or `/var/lib/lienthong`), where the
//! operator and the tests read it; `lienthong tokens show ROLE` prints it from the store. Where it
//! is gets logged; its value never is. `server.allow_unauthenticated = true` (a lab) generates
//! nothing and leaves both APIs open, with a warning at every start.

use std::io::Write;
use std::path::{Path, PathBuf};

use lienthong_certs::Secret;

use crate::auth::access::{ADMIN_PATHS, CENTER_PATHS, Methods};
use crate::config::Config;
use crate::store::{Store, StoreError};

/// A role whose token may be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    /// The admin API and the console (operator).
    Admin,
    /// The center's API (the one-stop system).
    Center,
}

impl TokenRole {
    /// Both roles.
    pub const ALL: [Self; 2] = [Self::Admin, Self::Center];

    /// The name stored and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Center => "center",
        }
    }

    /// The role of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The configuration key that gives this role a token of the operator's choice.
    pub fn key(self) -> &'static str {
        match self {
            Self::Admin => "server.admin_token_file",
            Self::Center => "server.center_token_file",
        }
    }
}

/// Why the generated tokens could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The store could not keep or read the token.
    #[error("generated {role} token: {source}")]
    Store {
        /// The role.
        role: &'static str,
        /// The store's error.
        source: StoreError,
    },
}

/// The roles that get a generated token under `config`: those it leaves without any credential
/// on some path of their API; none when `server.allow_unauthenticated` says it is a lab.
pub fn needed(config: &Config) -> Vec<TokenRole> {
    if config.server.allow_unauthenticated {
        return Vec::new();
    }
    let methods = Methods::of(&config.server);
    let mut roles = Vec::new();
    if ADMIN_PATHS.iter().any(|p| !methods.admin_protected(p)) {
        roles.push(TokenRole::Admin);
    }
    if CENTER_PATHS.iter().any(|p| !methods.center_protected(p)) {
        roles.push(TokenRole::Center);
    }
    roles
}

/// The state directory: `server.state_dir`, else the SQLite file's directory, else
/// `/var/lib/lienthong` (systemd's `StateDirectory=lienthong`).
pub fn state_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.server.state_dir {
        return dir.clone();
    }
    config
        .store
        .url
        .strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("/var/lib/lienthong"))
}

/// Where the generated token of `role` is copied.
pub fn file_of(config: &Config, role: TokenRole) -> PathBuf {
    state_dir(config).join(format!("{}.token", role.as_str()))
}

/// The generated tokens in force.
#[derive(Default)]
pub struct Generated {
    /// The admin token, when generated.
    pub admin: Option<Secret>,
    /// The center's token, when generated.
    pub center: Option<Secret>,
}

/// Generates (at the first start) or reads back the tokens of [`needed`], and copies each into
/// its file when the file is missing or holds another value. A file that cannot be written is
/// warned about (the token stays in the store, where `lienthong tokens show` finds it).
///
/// Errors: the store failed.
pub async fn ensure(config: &Config, store: &Store) -> Result<Generated, TokenError> {
    let mut out = Generated::default();
    for role in needed(config) {
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let token = store
            .ensure_generated_token(role.as_str(), &candidate)
            .await
            .map_err(|source| TokenError::Store {
                role: role.as_str(),
                source,
            })?;
        let generated_now = token == candidate;
        let path = file_of(config, role);
        match copy_to_file(&path, &token) {
            Ok(()) => tracing::info!(
                role = role.as_str(),
                file = %path.display(),
                generated_now,
                "the {} token is in {} (mode 0600); set {} to use a token of your own",
                role.as_str(),
                path.display(),
                role.key()
            ),
            Err(e) => tracing::warn!(
                role = role.as_str(),
                file = %path.display(),
                error = %e,
                "the generated {} token could not be written to its file; `lienthong tokens show {}` prints it",
                role.as_str(),
                role.as_str()
            ),
        }
        let secret = Some(Secret::new(token));
        match role {
            TokenRole::Admin => out.admin = secret,
            TokenRole::Center => out.center = secret,
        }
    }
    Ok(out)
}

/// Writes `token` to `path` with mode 0600 unless it already holds it (a new file is written
/// beside it and renamed, so a reader never sees half a token).
fn copy_to_file(path: &Path, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Ok(existing) = std::fs::read_to_string(path)
        && existing.trim() == token
    {
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("token.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: &str, store: &str) -> Config {
        let text = format!(
            "[server]\n{server}\n[store]\nurl = \"{store}\"\n[center]\nagency_code = \"000.02.01.H37\"\nagency_name = \"T\"\n"
        );
        Config::from_toml(&text, std::iter::empty()).expect("config")
    }

    #[test]
    fn roles_without_a_credential_get_a_token() {
        let c = config("", "sqlite:///var/lib/x/l.db");
        assert_eq!(needed(&c), vec![TokenRole::Admin, TokenRole::Center]);
        let c = config("admin_token_file = \"/etc/hostname\"", "sqlite:///x/l.db");
        assert_eq!(needed(&c), vec![TokenRole::Center]);
        let c = config(
            "admin_token_file = \"/etc/hostname\"\ncenter_token_file = \"/etc/hostname\"",
            "sqlite:///x/l.db",
        );
        assert!(needed(&c).is_empty());
        let c = config("allow_unauthenticated = true", "sqlite:///x/l.db");
        assert!(needed(&c).is_empty(), "a lab generates nothing");
    }

    #[test]
    fn the_state_directory_is_beside_the_store_or_configured() {
        let c = config("", "sqlite:///var/lib/lienthong/lienthong.db");
        assert_eq!(state_dir(&c), PathBuf::from("/var/lib/lienthong"));
        let c = config("", "postgres://lienthong@db/lienthong");
        assert_eq!(state_dir(&c), PathBuf::from("/var/lib/lienthong"));
        let c = config(
            "state_dir = \"/srv/lt\"",
            "postgres://lienthong@db/lienthong",
        );
        assert_eq!(
            file_of(&c, TokenRole::Center),
            PathBuf::from("/srv/lt/center.token")
        );
    }

    #[test]
    fn the_copy_is_private_and_rewritten_only_when_it_differs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sub/admin.token");
        copy_to_file(&path, "abc").expect("written");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abc\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Loosened by hand: tightened again, value kept.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        copy_to_file(&path, "abc").expect("same");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Another instance kept another token in the shared store: the copy follows it.
        copy_to_file(&path, "def").expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "def\n");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
