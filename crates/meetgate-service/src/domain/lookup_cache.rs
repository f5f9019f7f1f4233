//! Rows that every API request reads and that rarely change (API keys, tenants, Zoom apps),
//! reused for a few seconds by later requests of the same process.
//!
//! Why: each of them was a database round trip per request, a third of a meeting create's
//! database work. The price is staleness across processes: a change made here removes the entry
//! at once, but one made by another process (another replica, the CLI) is seen here at most
//! `lookup_cache_secs` later. Only rows that were found are kept, so a key, tenant or app created
//! anywhere is usable at once.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use meetgate_store::models::{ApiKey, Tenant, ZoomApp};
use meetgate_store::{TenantId, ZoomAppId};
use time::{Duration, OffsetDateTime};

/// The caches of one process.
#[derive(Debug)]
pub(crate) struct Lookups {
    /// By the key's public lookup id.
    pub api_keys: LookupCache<String, ApiKey>,
    pub tenants: LookupCache<TenantId, Tenant>,
    pub apps: LookupCache<ZoomAppId, ZoomApp>,
}

impl Lookups {
    pub fn new(ttl: Duration) -> Self {
        Self {
            api_keys: LookupCache::new(ttl),
            tenants: LookupCache::new(ttl),
            apps: LookupCache::new(ttl),
        }
    }
}

/// Entries kept at most; past it, expired entries go first, then everything.
const CAPACITY: usize = 4096;

pub(crate) struct LookupCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (OffsetDateTime, V)>>,
}

impl<K, V> std::fmt::Debug for LookupCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V: Clone> LookupCache<K, V> {
    /// A cache whose entries live `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value stored for `key` less than the TTL before `now`.
    pub fn get<Q>(&self, key: &Q, now: OffsetDateTime) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((stored_at, value)) if now - *stored_at < self.ttl && *stored_at <= now => {
                Some(value.clone())
            }
            _ => None,
        }
    }

    pub fn insert(&self, key: K, value: V, now: OffsetDateTime) {
        if self.ttl <= Duration::ZERO {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, (stored_at, _)| now - *stored_at < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }

    /// Forgets `key`, after a change this process made to it.
    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    /// Forgets every entry matching `stale`.
    pub fn remove_where(&self, mut stale: impl FnMut(&V) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (_, value)| !stale(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(secs)
    }

    #[test]
    fn entries_live_for_the_ttl_only() {
        let cache = LookupCache::new(Duration::seconds(5));
        cache.insert("k", 1, at(100));
        assert_eq!(cache.get(&"k", at(100)), Some(1));
        assert_eq!(cache.get(&"k", at(104)), Some(1));
        assert_eq!(cache.get(&"k", at(105)), None, "expired");
        assert_eq!(
            cache.get(&"k", at(99)),
            None,
            "a clock that went back trusts nothing"
        );
        assert_eq!(cache.get(&"other", at(100)), None);
    }

    #[test]
    fn removal_and_a_zero_ttl_keep_nothing() {
        let cache = LookupCache::new(Duration::seconds(5));
        cache.insert("a", 1, at(0));
        cache.insert("b", 2, at(0));
        cache.remove(&"a");
        assert_eq!(cache.get(&"a", at(1)), None);
        cache.remove_where(|v| *v == 2);
        assert_eq!(cache.get(&"b", at(1)), None);

        let off = LookupCache::new(Duration::ZERO);
        off.insert("a", 1, at(0));
        assert_eq!(off.get(&"a", at(0)), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = LookupCache::new(Duration::seconds(5));
        for i in 0..CAPACITY * 3 {
            cache.insert(i, i, at(0));
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= CAPACITY, "{len} entries");
        assert_eq!(
            cache.get(&(CAPACITY * 3 - 1), at(1)),
            Some(CAPACITY * 3 - 1)
        );
    }
}
