//! Replay protection: nonces remembered until their signature's window closes.

use std::collections::HashMap;
use std::sync::Mutex;

/// Nonces seen per key id, each until the end of its acceptance window. Bounded: once
/// `capacity` live nonces are held, new ones are refused (the caller answers 503/429) rather
/// than growing without limit under a flood.
#[derive(Debug)]
pub struct NonceCache {
    seen: Mutex<HashMap<(String, String), i64>>,
    capacity: usize,
}

impl NonceCache {
    /// A cache holding at most `capacity` live nonces.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Records `nonce` for `keyid` until `until`; false when it is already recorded (a replay)
    /// or the cache is full.
    pub fn insert(&self, keyid: &str, nonce: &str, until: i64, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = (keyid.to_string(), nonce.to_string());
        if let Some(&t) = seen.get(&key)
            && t >= now
        {
            return false;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, t| *t >= now);
            if seen.len() >= self.capacity {
                return false;
            }
        }
        seen.insert(key, until);
        true
    }

    /// Number of nonces held (expired ones included until the next purge).
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_window_and_per_key() {
        let c = NonceCache::new(10);
        assert!(c.insert("k", "n1", 100, 0));
        assert!(!c.insert("k", "n1", 100, 50));
        assert!(c.insert("other", "n1", 100, 50));
        // After the window the nonce may be seen again (its signature is too old anyway).
        assert!(c.insert("k", "n1", 300, 101));
    }

    #[test]
    fn a_full_cache_refuses_rather_than_grows() {
        let c = NonceCache::new(2);
        assert!(c.insert("k", "a", 100, 0));
        assert!(c.insert("k", "b", 100, 0));
        assert!(!c.insert("k", "c", 100, 0));
        // Expired entries are purged to make room.
        assert!(c.insert("k", "d", 300, 200));
        assert_eq!(c.len(), 1);
    }
}
