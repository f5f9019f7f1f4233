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

use meetgate_store::models::{ApiKey, ZoomApp};
use meetgate_store::{TenantId, ZoomAppId};
use time::{Duration, OffsetDateTime};

/// The caches of one process.
#[derive(Debug)]
pub(crate) struct Lookups {
    /// By the key's public lookup id.
    pub api_keys: LookupCache<String, ApiKey>,
    /// With the settings parsed.
    pub tenants: LookupCache<TenantId, std::sync::Arc<super::tenants::TenantView>>,
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

    /// The cached value of `key`, or `load`'s, which is kept if it found one.
    pub async fn get_or_load<E, Fut>(
        &self,
        key: K,
        now: OffsetDateTime,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<V>, E>
    where
        Fut: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(value) = self.get(&key, now) {
            return Ok(Some(value));
        }
        let loaded = load().await?;
        if let Some(value) = &loaded {
            self.insert(key, value.clone(), now);
        }
        Ok(loaded)
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
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
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

    #[tokio::test]
    async fn loads_once_and_keeps_only_what_was_found() {
        let cache = LookupCache::new(Duration::seconds(5));
        let loads = std::cell::Cell::new(0);
        let load = |found: Option<u32>| {
            loads.set(loads.get() + 1);
            async move { Ok::<_, ()>(found) }
        };
        assert_eq!(
            cache.get_or_load("k", at(0), || load(Some(7))).await,
            Ok(Some(7))
        );
        assert_eq!(
            cache.get_or_load("k", at(1), || load(Some(8))).await,
            Ok(Some(7))
        );
        assert_eq!(loads.get(), 1, "the second came from the cache");
        assert_eq!(
            cache.get_or_load("none", at(1), || load(None)).await,
            Ok(None)
        );
        assert_eq!(
            cache.get_or_load("none", at(1), || load(None)).await,
            Ok(None)
        );
        assert_eq!(loads.get(), 3, "a miss is not kept");
        let failed = cache
            .get_or_load("err", at(1), || async { Err::<Option<u32>, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
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
