//! Expiring credentials (access tokens, ZAKs) are dropped in sweeps, not on every insert: a
//! sweep on every insert scans the whole map under the world's lock and makes long runs
//! quadratic. Lookups check expiry themselves, so a stale entry left until the next sweep is
//! never honoured.

use std::collections::HashMap;
use std::hash::Hash;

/// Never sweep maps smaller than this.
const MIN_SWEEP_AT: usize = 1024;

/// Sweeps `map` with `keep` once it has doubled since the last sweep: O(1) amortised per insert.
pub fn sweep_if_grown<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    next_sweep_at: &mut usize,
    keep: impl FnMut(&K, &mut V) -> bool,
) {
    if map.len() >= *next_sweep_at {
        map.retain(keep);
        *next_sweep_at = (map.len() * 2).max(MIN_SWEEP_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_after_doubling() {
        let mut map = HashMap::new();
        let mut next = 0;
        for i in 0..MIN_SWEEP_AT {
            sweep_if_grown(&mut map, &mut next, |_, stale: &mut bool| !*stale);
            map.insert(i, true);
        }
        assert_eq!(map.len(), MIN_SWEEP_AT, "no sweep below the minimum");
        sweep_if_grown(&mut map, &mut next, |_, stale: &mut bool| !*stale);
        assert!(map.is_empty(), "the stale entries went in one sweep");
        assert_eq!(next, MIN_SWEEP_AT);
    }
}
