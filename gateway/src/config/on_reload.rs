//! What a reload does with each key (thay đổi cấu hình khi nạp lại): applied by the reload, or
//! reported as needing a restart. Decided once per section, next to its definition, by an
//! [`OnReload`] implementation that destructures the section: a field added to a section does
//! not compile until it is given a policy here, so a reload cannot claim to have applied what it
//! did not.
//!
//! [`Policy::Live`] means the running gateway reads that value from what the reload swaps in
//! (the security material, each destination's wiring, the push settings, the file policy), not
//! from a copy taken at start-up. Everything else is [`Policy::Restart`], and a change of it is
//! named in the reload's answer (`needs_restart`) and its log.

use std::fmt::Debug;

use lienthong_certs::Secret;

/// How a running gateway takes a change of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The reload applies it.
    Live,
    /// It takes effect at the next restart.
    Restart,
}

/// The walk of one reload: each key's policy, and the restart-only keys that changed.
#[derive(Debug, Default)]
pub struct Changes {
    prefix: Vec<String>,
    /// Every key met, with its policy (a table stands for all the keys under it).
    pub keys: Vec<(String, Policy)>,
    /// Keys whose change needs a restart, that changed.
    pub needs_restart: Vec<String>,
}

impl Changes {
    fn path(&self, key: &str) -> String {
        let mut p = self.prefix.join(".");
        if !key.is_empty() {
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(key);
        }
        p
    }

    /// `key` is applied by a reload.
    pub fn live(&mut self, key: &str) {
        let path = self.path(key);
        self.keys.push((path, Policy::Live));
    }

    /// `key` takes effect at the next restart; it changed if its values differ (compared as
    /// they print, which every configuration type does fully, secrets aside).
    pub fn restart<T: Debug>(&mut self, key: &str, old: &T, new: &T) {
        self.restart_if(key, format!("{old:?}") != format!("{new:?}"));
    }

    /// A secret that takes effect at the next restart (compared by value: it prints redacted).
    pub fn restart_secret(&mut self, key: &str, old: &Option<Secret>, new: &Option<Secret>) {
        let value = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
        self.restart_if(key, value(old) != value(new));
    }

    /// `key` takes effect at the next restart, and `changed` says whether it changed.
    pub fn restart_if(&mut self, key: &str, changed: bool) {
        let path = self.path(key);
        if changed {
            self.needs_restart.push(path.clone());
        }
        self.keys.push((path, Policy::Restart));
    }

    /// The keys of the section `key`, walked by its own [`OnReload`].
    pub fn section<T: OnReload>(&mut self, key: &str, old: &T, new: &T) {
        self.prefix.push(key.to_owned());
        old.on_reload(new, self);
        self.prefix.pop();
    }

    /// The keys of an optional section: walked when both have it; its appearing or going away
    /// is `when_toggled`.
    pub fn optional<T: OnReload + Debug>(
        &mut self,
        key: &str,
        old: &Option<T>,
        new: &Option<T>,
        when_toggled: Policy,
    ) {
        match (old, new) {
            (Some(o), Some(n)) => self.section(key, o, n),
            _ => match when_toggled {
                Policy::Live => self.live(key),
                Policy::Restart => self.restart(key, old, new),
            },
        }
    }

    /// Whether the walk met `key`, a table above it, or keys under it.
    pub fn covers(&self, key: &str) -> bool {
        self.policy_of(key).is_some()
            || self
                .keys
                .iter()
                .any(|(k, _)| k.starts_with(&format!("{key}.")))
    }

    /// The policy of `key` (the nearest table met above it), if the walk met it.
    pub fn policy_of(&self, key: &str) -> Option<Policy> {
        self.keys
            .iter()
            .filter(|(k, _)| key == k || key.starts_with(&format!("{k}.")))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    }
}

/// A configuration section that says, key by key, what a reload does with it.
pub trait OnReload {
    /// Compares the running `self` with the reloaded `new`, telling `changes` each key's policy.
    /// Implementations destructure `self` (no `..`), so a new field must be given a policy.
    fn on_reload(&self, new: &Self, changes: &mut Changes);
}

/// What a reload from `old` to `new` does, key by key.
pub fn changes(old: &super::Config, new: &super::Config) -> Changes {
    let mut c = Changes::default();
    old.on_reload(new, &mut c);
    c
}
