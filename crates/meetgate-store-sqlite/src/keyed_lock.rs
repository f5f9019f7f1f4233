//! A map of per-key async mutexes whose entries disappear when nobody holds or awaits them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// A key's mutex and how many handles (holders and waiters) use it.
type Entry = (Arc<AsyncMutex<()>>, usize);

#[derive(Debug)]
pub(crate) struct KeyedLocks<K> {
    /// Each entry counts the handles (holders and waiters) so that the last one out removes it;
    /// the count is explicit because a cancelled waiter must be able to give its place back.
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: Hash + Eq + Clone + Send + 'static> KeyedLocks<K> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for the key's mutex. Cancel-safe: dropping the future gives up the place in line.
    pub(crate) async fn lock(self: &Arc<Self>, key: K) -> KeyedGuard<K> {
        let mutex = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = entries
                .entry(key.clone())
                .or_insert_with(|| (Arc::new(AsyncMutex::new(())), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        let mut guard = KeyedGuard {
            locks: self.clone(),
            key,
            held: None,
        };
        guard.held = Some(mutex.lock_owned().await);
        guard
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[derive(Debug)]
pub(crate) struct KeyedGuard<K: Hash + Eq> {
    locks: Arc<KeyedLocks<K>>,
    key: K,
    held: Option<OwnedMutexGuard<()>>,
}

impl<K: Hash + Eq> Drop for KeyedGuard<K> {
    fn drop(&mut self) {
        // Unlock first so that a waiter can proceed, then give back our count.
        self.held.take();
        let mut entries = self
            .locks
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                entries.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn excludes_and_cleans_up() {
        let locks = KeyedLocks::<u32>::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (locks, inside, max_inside) = (locks.clone(), inside.clone(), max_inside.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock(7).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max_inside.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_inside.load(Ordering::SeqCst), 1);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn cancelled_waiter_gives_back_its_place() {
        let locks = KeyedLocks::<u32>::new();
        let held = locks.lock(1).await;
        let waiting = tokio::time::timeout(Duration::from_millis(20), locks.lock(1)).await;
        assert!(waiting.is_err());
        assert_eq!(locks.len(), 1);
        drop(held);
        assert_eq!(locks.len(), 0);
        let _again = locks.lock(1).await;
    }
}
