use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// One async mutex per key, created on first use and forgotten when nobody holds or waits for it.
///
/// In front of the database's refresh lock, it keeps a process from parking many database
/// connections on one connection's lock: the second request for the same grant waits here, then
/// finds the token its sibling just stored.
#[derive(Debug)]
pub(crate) struct KeyedLocks<K> {
    map: Mutex<HashMap<K, Weak<AsyncMutex<()>>>>,
}

impl<K: Hash + Eq + Clone> KeyedLocks<K> {
    pub fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The key's lock, and whether another holder had it first (so that the caller had to wait).
    pub async fn lock(&self, key: &K) -> (OwnedMutexGuard<()>, bool) {
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
                    let fresh = Arc::new(AsyncMutex::new(()));
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
        let locks = Arc::new(KeyedLocks::new());
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
        let locks = Arc::new(KeyedLocks::new());
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
}
