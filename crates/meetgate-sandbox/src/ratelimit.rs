//! Zoom's per-account, per-category QPS limits and the per-user daily create+update limit.

use std::collections::HashMap;

use time::{Date, OffsetDateTime, Time};

use crate::endpoint::Category;
use crate::world::Plan;

pub const DAILY_LIMIT: u32 = 100;

/// Requests per second for a plan and category (Light 4/30/80, Medium 2/20/60, Heavy 1/10/40).
pub fn qps(plan: Plan, category: Category) -> u32 {
    match (category, plan) {
        (Category::Light, Plan::Free) => 4,
        (Category::Light, Plan::Pro) => 30,
        (Category::Light, Plan::Business) => 80,
        (Category::Medium, Plan::Free) => 2,
        (Category::Medium, Plan::Pro) => 20,
        (Category::Medium, Plan::Business) => 60,
        (Category::Heavy, Plan::Free) => 1,
        (Category::Heavy, Plan::Pro) => 10,
        (Category::Heavy, Plan::Business) => 40,
    }
}

/// When the daily limit resets: the next 00:00 UTC.
pub fn next_reset(now: OffsetDateTime) -> OffsetDateTime {
    let today = now.date();
    let tomorrow = today.next_day().unwrap_or(today);
    tomorrow.with_time(Time::MIDNIGHT).assume_utc()
}

#[derive(Debug)]
pub enum Limited {
    Qps {
        category: Category,
        limit: u32,
    },
    Daily {
        limit: u32,
        /// Next 00:00 UTC on the sandbox clock.
        retry_after: OffsetDateTime,
    },
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// (account, category) -> (unix second, calls in that second)
    windows: HashMap<(String, Category), (i64, u32)>,
    /// (user, UTC date) -> creates + updates
    daily: HashMap<(String, Date), u32>,
}

#[derive(Debug)]
pub struct Allowed {
    pub limit: u32,
    pub remaining: u32,
}

impl RateLimiter {
    /// Counts the call against its one-second window, or refuses it. Refused calls don't count.
    pub fn check_qps(
        &mut self,
        account_id: &str,
        plan: Plan,
        category: Category,
        now: OffsetDateTime,
    ) -> Result<Allowed, Limited> {
        let limit = qps(plan, category);
        let second = now.unix_timestamp();
        let entry = self
            .windows
            .entry((account_id.to_owned(), category))
            .or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        if entry.1 >= limit {
            return Err(Limited::Qps { category, limit });
        }
        entry.1 += 1;
        Ok(Allowed {
            limit,
            remaining: limit - entry.1,
        })
    }

    pub fn check_daily(&self, user_id: &str, now: OffsetDateTime) -> Result<u32, Limited> {
        let used = self
            .daily
            .get(&(user_id.to_owned(), now.date()))
            .copied()
            .unwrap_or(0);
        if used >= DAILY_LIMIT {
            let retry_after = next_reset(now);
            return Err(Limited::Daily {
                limit: DAILY_LIMIT,
                retry_after,
            });
        }
        Ok(DAILY_LIMIT - used)
    }

    pub fn record_daily(&mut self, user_id: &str, now: OffsetDateTime) {
        let today = now.date();
        self.daily.retain(|(_, d), _| *d >= today);
        *self.daily.entry((user_id.to_owned(), today)).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qps_window_resets_each_second() {
        let mut r = RateLimiter::default();
        let t = time::macros::datetime!(2024-01-01 10:00:00 UTC);
        for _ in 0..2 {
            r.check_qps("a", Plan::Free, Category::Medium, t)
                .expect("allowed");
        }
        assert!(r.check_qps("a", Plan::Free, Category::Medium, t).is_err());
        assert!(r.check_qps("b", Plan::Free, Category::Medium, t).is_ok());
        let next = t + time::Duration::seconds(1);
        assert!(r.check_qps("a", Plan::Free, Category::Medium, next).is_ok());
    }

    #[test]
    fn daily_resets_at_midnight_utc() {
        let mut r = RateLimiter::default();
        let t = time::macros::datetime!(2024-01-01 23:59:00 UTC);
        for _ in 0..DAILY_LIMIT {
            r.record_daily("u", t);
        }
        match r.check_daily("u", t) {
            Err(Limited::Daily { retry_after, .. }) => {
                assert_eq!(retry_after, time::macros::datetime!(2024-01-02 0:00 UTC));
            }
            other => panic!("expected daily limit, got {other:?}"),
        }
        assert!(r.check_daily("u", t + time::Duration::minutes(1)).is_ok());
    }
}
