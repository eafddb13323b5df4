//! A SoftHSM2 token for tests (a real PKCS#11 module): its own token directory and
//! configuration, a token initialised with `softhsm2-util`, keys generated on it by the
//! `token_keygen` helper. Processes that use it get `SOFTHSM2_CONF` in their environment.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where SoftHSM2's module may be.
const MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

/// A SoftHSM2 installation of one test.
#[derive(Debug)]
pub struct SoftHsm {
    /// The module.
    pub module: PathBuf,
    /// `SOFTHSM2_CONF` for processes that use it.
    pub conf: PathBuf,
    /// Where SoftHSM keeps its tokens, one directory each.
    tokens: PathBuf,
    /// Where a token pulled out waits.
    away: PathBuf,
}

impl SoftHsm {
    /// A token directory under `dir` with a token `label` whose user PIN is `pin`; `None` when
    /// SoftHSM2 is not installed and `LIENTHONG_SKIP_PKCS11=1` says to skip.
    ///
    /// Panics when SoftHSM2 is missing (without the skip) or the token cannot be made.
    pub fn new(dir: &Path, label: &str, pin: &str) -> Option<Self> {
        let Some(module) = MODULES.iter().map(PathBuf::from).find(|p| p.exists()) else {
            assert!(
                std::env::var("LIENTHONG_SKIP_PKCS11").as_deref() == Ok("1"),
                "SoftHSM2 is not installed (apt-get install softhsm2); set LIENTHONG_SKIP_PKCS11=1 to skip"
            );
            return None;
        };
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).expect("token directory");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                "12345678",
            ])
            .args(["--pin", pin])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Self {
            module,
            conf,
            away: dir.join("pulled-out"),
            tokens,
        })
    }

    /// Generates a key pair (`rsa` or `ec`) on the token; its DER `SubjectPublicKeyInfo`.
    ///
    /// Panics when the helper fails.
    pub fn generate(&self, token: &str, pin: &str, label: &str, id: &str, kind: &str) -> Vec<u8> {
        let helper = crate::gateway_process::lienthong_bin().with_file_name("token_keygen");
        let out = Command::new(&helper)
            .arg(&self.module)
            .args([token, pin, label, id, kind])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (cargo build -p lienthong-tests --bins)",
                    helper.display()
                )
            });
        assert!(
            out.status.success(),
            "token_keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        hex::decode(String::from_utf8_lossy(&out.stdout).trim()).expect("hex SPKI")
    }

    /// Pulls the token out (SoftHSM keeps a token in a directory: it is moved away), as an
    /// operator unplugging a USB token.
    ///
    /// Panics when there is no token or it cannot be moved.
    pub fn pull_out(&self) {
        let token = std::fs::read_dir(&self.tokens)
            .expect("token directory")
            .map(|e| e.expect("entry").path())
            .next()
            .expect("a token");
        std::fs::create_dir_all(&self.away).expect("away");
        let name = token.file_name().expect("name").to_owned();
        std::fs::rename(&token, self.away.join(name)).expect("pull the token out");
    }

    /// Puts back the token [`SoftHsm::pull_out`] took.
    ///
    /// Panics when no token was pulled out.
    pub fn put_back(&self) {
        let token = std::fs::read_dir(&self.away)
            .expect("pulled out")
            .map(|e| e.expect("entry").path())
            .next()
            .expect("a pulled-out token");
        let name = token.file_name().expect("name").to_owned();
        std::fs::rename(&token, self.tokens.join(name)).expect("put the token back");
    }
}
