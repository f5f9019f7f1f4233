use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// One async mutex per key, created on first use and forgotten when nobody holds or waits for it.
///
/// In front of the database's refresh lock, it keeps a process from parking many database
/// connections on one connection's lock: the second request for the same grant waits here, then
/// finds the token its sibling just stored.
///
/// Each mutex guards a `V`, starting at `V::default()`: a holder can leave something there for
/// those queued behind it (the refresh leaves its result). It goes with the mutex, so it never
/// outlives a burst of requests for the key.
#[derive(Debug)]
pub(crate) struct KeyedLocks<K, V = ()> {
    map: Mutex<HashMap<K, Weak<AsyncMutex<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Default> KeyedLocks<K, V> {
    pub fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The key's lock, and whether another holder had it first (so that the caller had to wait).
    pub async fn lock(&self, key: &K) -> (OwnedMutexGuard<V>, bool) {
        let mutex = {
            let mut map = self
                .map
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if map.len() > 1024 {
                map.retain(|_, weak| weak.strong_count() > 0);
            }
            match map.get(key).and_then(Weak::upgrade) {
                Some(existing) => existing,
                None => {
                    let fresh = Arc::new(AsyncMutex::new(V::default()));
                    map.insert(key.clone(), Arc::downgrade(&fresh));
                    fresh
                }
            }
        };
        match Arc::clone(&mutex).try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (mutex.lock_owned().await, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::KeyedLocks;

    #[tokio::test]
    async fn one_holder_per_key_and_keys_are_independent() {
        let locks = Arc::new(KeyedLocks::<u32>::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (locks, inside, max) = (locks.clone(), inside.clone(), max.clone());
            tasks.push(tokio::spawn(async move {
                let (_guard, _) = locks.lock(&1u32).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        let (other, waited) = locks.lock(&2u32).await;
        assert!(!waited, "nobody else uses key 2");
        for t in tasks {
            t.await.unwrap();
        }
        drop(other);
        assert_eq!(max.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_holder_learns_whether_it_waited() {
        let locks = Arc::new(KeyedLocks::<u32>::new());
        let (first, waited) = locks.lock(&7u32).await;
        assert!(!waited);
        let second = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(&7u32).await.1 }
        });
        tokio::task::yield_now().await;
        drop(first);
        assert!(
            second.await.unwrap(),
            "the second holder waited for the first"
        );
        assert!(!locks.lock(&7u32).await.1, "free again");
    }

    #[tokio::test]
    async fn a_waiter_finds_what_the_holder_left_until_the_key_is_forgotten() {
        let locks = Arc::new(KeyedLocks::<u32, Option<&'static str>>::new());
        let (mut first, _) = locks.lock(&3u32).await;
        let second = tokio::spawn({
            let locks = locks.clone();
            async move {
                let (guard, waited) = locks.lock(&3u32).await;
                (*guard, waited)
            }
        });
        tokio::task::yield_now().await;
        *first = Some("refreshed");
        drop(first);
        assert_eq!(second.await.unwrap(), (Some("refreshed"), true));
        // Nobody held or waited any more: the next holder starts from the default.
        let (again, waited) = locks.lock(&3u32).await;
        assert_eq!((*again, waited), (None, false));
    }
}
