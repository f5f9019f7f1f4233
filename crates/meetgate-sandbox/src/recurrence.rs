//! Occurrences of recurring meetings with a fixed time (type 8), computed the way Zoom
//! schedules them: in the meeting's time zone, so a weekly 09:00 stays 09:00 across DST.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Serialize;
use time::OffsetDateTime;

/// Zoom caps a series; the spec gives `end_times` a maximum of 365.
pub const MAX_OCCURRENCES: i64 = 365;

/// A validated `recurrence` object, echoed back as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recurrence {
    #[serde(rename = "type")]
    pub kind: u8,
    pub repeat_interval: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly_days: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_day: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_week: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_week_day: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_times: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::timefmt::option"
    )]
    pub end_date_time: Option<OffsetDateTime>,
}

pub const DAILY: u8 = 1;
pub const WEEKLY: u8 = 2;
pub const MONTHLY: u8 = 3;

impl Recurrence {
    /// Start instants of every occurrence, first one at `first` (local time in `tz`).
    pub fn occurrences(&self, first: DateTime, tz: &TimeZone) -> Vec<OffsetDateTime> {
        let limit = match (self.end_times, self.end_date_time) {
            (_, Some(_)) => MAX_OCCURRENCES,
            (n, None) => n.unwrap_or(1).clamp(1, MAX_OCCURRENCES),
        };
        let until = self.end_date_time;
        let mut out = Vec::new();
        let start_date = first.date();
        let mut push = |date: Date| -> bool {
            let Some(at) = to_utc(date.to_datetime(first.time()), tz) else {
                return true;
            };
            if until.is_some_and(|u| at > u) || out.len() as i64 >= limit {
                return false;
            }
            out.push(at);
            (out.len() as i64) < limit
        };
        let interval = self.repeat_interval.max(1);
        match self.kind {
            DAILY => {
                for k in 0..MAX_OCCURRENCES * 2 {
                    let Ok(d) = start_date.checked_add(Span::new().days(k * interval)) else {
                        break;
                    };
                    if !push(d) {
                        break;
                    }
                }
            }
            WEEKLY => {
                let days = self.weekly_day_set();
                let week0 = start_date.checked_sub(
                    Span::new().days(i64::from(start_date.weekday().to_sunday_zero_offset())),
                );
                let Ok(week0) = week0 else { return out };
                // Bounded walk: at most 12-week intervals times 365 occurrences of days.
                for offset in 0..(7 * 12 * MAX_OCCURRENCES) {
                    let Ok(d) = week0.checked_add(Span::new().days(offset)) else {
                        break;
                    };
                    if d < start_date {
                        continue;
                    }
                    let week = offset / 7;
                    let wd = d.weekday().to_sunday_one_offset();
                    if week % interval == 0 && days.contains(&wd) && !push(d) {
                        break;
                    }
                }
            }
            MONTHLY => {
                let month0 = start_date.first_of_month();
                for k in 0..MAX_OCCURRENCES * 2 {
                    let Ok(m) = month0.checked_add(Span::new().months(k * interval)) else {
                        break;
                    };
                    let Some(d) = self.monthly_date(m) else {
                        continue;
                    };
                    if d < start_date {
                        continue;
                    }
                    if !push(d) {
                        break;
                    }
                }
            }
            _ => {}
        }
        out
    }

    fn weekly_day_set(&self) -> Vec<i8> {
        self.weekly_days
            .as_deref()
            .unwrap_or("1")
            .split(',')
            .filter_map(|d| d.trim().parse::<i8>().ok())
            .collect()
    }

    fn monthly_date(&self, first_of_month: Date) -> Option<Date> {
        match (self.monthly_week, self.monthly_week_day) {
            (Some(week), Some(day)) => {
                let wd = Weekday::from_sunday_one_offset(i8::try_from(day).ok()?).ok()?;
                first_of_month
                    .nth_weekday_of_month(i8::try_from(week).ok()?, wd)
                    .ok()
            }
            _ => {
                let day = i8::try_from(self.monthly_day.unwrap_or(1)).ok()?;
                if day > first_of_month.days_in_month() {
                    return None;
                }
                Date::new(first_of_month.year(), first_of_month.month(), day).ok()
            }
        }
    }
}

pub fn to_utc(local: DateTime, tz: &TimeZone) -> Option<OffsetDateTime> {
    let zoned = tz.to_zoned(local).ok()?;
    OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second()).ok()
}

pub fn to_local(at: OffsetDateTime, tz: &TimeZone) -> Option<DateTime> {
    let ts = Timestamp::from_second(at.unix_timestamp()).ok()?;
    Some(tz.to_datetime(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("tz")
    }

    fn rec(kind: u8) -> Recurrence {
        Recurrence {
            kind,
            repeat_interval: 1,
            weekly_days: None,
            monthly_day: None,
            monthly_week: None,
            monthly_week_day: None,
            end_times: Some(3),
            end_date_time: None,
        }
    }

    #[test]
    fn daily_keeps_local_time_across_dst() {
        let first = DateTime::constant(2024, 3, 9, 9, 0, 0, 0);
        let occ = rec(DAILY).occurrences(first, &tz("America/New_York"));
        let hours: Vec<u8> = occ.iter().map(|t| t.hour()).collect();
        // 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z (DST began on 2024-03-10).
        assert_eq!(hours, vec![14, 13, 13]);
    }

    #[test]
    fn weekly_on_tuesday_and_thursday() {
        let mut r = rec(WEEKLY);
        r.weekly_days = Some("3,5".into());
        r.end_times = Some(4);
        // 2024-01-01 is a Monday.
        let occ = r.occurrences(DateTime::constant(2024, 1, 1, 10, 0, 0, 0), &tz("UTC"));
        let days: Vec<u8> = occ.iter().map(|t| t.day()).collect();
        assert_eq!(days, vec![2, 4, 9, 11]);
    }

    #[test]
    fn monthly_last_friday_and_end_date() {
        let mut r = rec(MONTHLY);
        r.monthly_week = Some(-1);
        r.monthly_week_day = Some(6);
        r.end_times = None;
        r.end_date_time = Some(time::macros::datetime!(2024-03-31 0:00 UTC));
        let occ = r.occurrences(DateTime::constant(2024, 1, 1, 10, 0, 0, 0), &tz("UTC"));
        let days: Vec<(u8, u8)> = occ.iter().map(|t| (u8::from(t.month()), t.day())).collect();
        assert_eq!(days, vec![(1, 26), (2, 23), (3, 29)]);
    }
}
