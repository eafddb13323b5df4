//! The loaded PKCS#11 modules: one context per module for the whole process (`C_Initialize`
//! is once per process), and a way to start a module again when a token it lost does not come
//! back by itself.
//!
//! Some modules (SoftHSM among them) notice a token that was removed but not one put back
//! until they are finalised and initialised again. [`Module::restart`] does that, at most once
//! per [`RESTART_INTERVAL`], under a write lock: every use of the module holds the read lock,
//! because PKCS#11 forbids `C_Finalize` while other calls run. Each start is a *generation*;
//! a session from an older generation is stale (its handle may now name another session), so
//! it is forgotten, never closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::TokenError;

/// The shortest time between two restarts of a module: a token that stays away does not make
/// the module restart under the other keys' feet more often than this.
pub const RESTART_INTERVAL: Duration = Duration::from_secs(5);

/// A loaded module.
#[derive(Debug)]
pub struct Module {
    path: PathBuf,
    context: Pkcs11,
    /// The generation; read-locked by every use, write-locked to restart.
    generation: RwLock<u64>,
    last_restart: Mutex<Option<Instant>>,
}

/// The module at `path`, loaded and initialised on first use.
///
/// Errors: the library cannot be loaded or initialised.
pub fn module(path: &Path) -> Result<Arc<Module>, TokenError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(m) = modules.get(path) {
        return Ok(Arc::clone(m));
    }
    let context = Pkcs11::new(path).map_err(|e| failed(path, e.to_string()))?;
    initialize(&context).map_err(|e| failed(path, e.to_string()))?;
    let module = Arc::new(Module {
        path: path.to_path_buf(),
        context,
        generation: RwLock::new(0),
        last_restart: Mutex::new(None),
    });
    modules.insert(path.to_path_buf(), Arc::clone(&module));
    Ok(module)
}

fn failed(path: &Path, reason: String) -> TokenError {
    TokenError::Module {
        module: path.display().to_string(),
        reason,
    }
}

fn initialize(context: &Pkcs11) -> Result<(), CkError> {
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, Function::Initialize)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The module in use: its context and generation, valid while this is held.
#[derive(Debug)]
pub struct InUse<'a> {
    /// The context to call.
    pub context: &'a Pkcs11,
    /// The generation the sessions opened now belong to.
    pub generation: u64,
    _guard: RwLockReadGuard<'a, u64>,
}

impl Module {
    /// The module's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the module for one use; a restart waits until it is given back.
    pub fn use_now(&self) -> InUse<'_> {
        let guard = self.generation.read().unwrap_or_else(|p| p.into_inner());
        InUse {
            context: &self.context,
            generation: *guard,
            _guard: guard,
        }
    }

    /// Finalises and initialises the module again, so that it looks for its tokens afresh,
    /// unless generation `seen` was already restarted or the last restart was less than
    /// [`RESTART_INTERVAL`] ago. True when it restarted.
    ///
    /// Errors: the module cannot be initialised again (it stays unusable until a later
    /// restart succeeds).
    pub fn restart(&self, seen: u64) -> Result<bool, TokenError> {
        let mut generation = self.generation.write().unwrap_or_else(|p| p.into_inner());
        if *generation != seen {
            return Ok(true);
        }
        let mut last = self.last_restart.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < RESTART_INTERVAL) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        // Every session of the old generation dies with it.
        *generation += 1;
        if let Err(e) = self.context.clone().finalize() {
            tracing::warn!(module = %self.path.display(), "C_Finalize: {e}");
        }
        initialize(&self.context).map_err(|e| failed(&self.path, e.to_string()))?;
        tracing::info!(module = %self.path.display(), generation = *generation, "PKCS#11 module restarted to look for its tokens");
        Ok(true)
    }
}
