//! A member's own meetings, as the web app offers them: a session scheduled at a local date and
//! time in a named time zone, optionally weekly; listing, rescheduling and cancelling only the
//! member's own meetings. Everything goes through the same `create_meeting`, `update_meeting`
//! and `delete_meeting` as the API, with the member as the end user.

use std::sync::LazyLock;

use meetgate_store::MeetingId;
use meetgate_store::models::{MeetingQuery, MeetingStatus, MeetingWindow};
use time::OffsetDateTime;

use super::{
    CreateMeeting, Ctx, MeetingCreated, MeetingPatch, MeetingView, RecurrenceInput, Services,
};
use crate::{Error, Result};

/// How many of a member's meetings the dashboard reads at most (pages of 100).
const MAX_PAGES: usize = 10;
/// How many meetings one live-status poll may ask about.
pub const STATUSES_AT_ONCE: usize = 100;
/// A weekly series has at most this many sessions (Zoom's limit is 60).
const MAX_OCCURRENCES: u32 = 60;

/// A local date, time, duration and time zone, as a person types them.
#[derive(Debug, Clone, Default)]
pub struct LocalSlot {
    /// `YYYY-MM-DD`, a date in `timezone`.
    pub date: String,
    /// `HH:MM`, a wall-clock time in `timezone`.
    pub time: String,
    /// Minutes.
    pub duration: String,
    /// An IANA name, e.g. `Europe/Berlin`.
    pub timezone: String,
}

/// The web app's "schedule a session" form, as typed.
#[derive(Debug, Clone, Default)]
pub struct SessionSchedule {
    pub client_label: Option<String>,
    pub slot: LocalSlot,
    /// `None`: once. `Some(n)`: weekly on the same weekday, `n` sessions in all.
    pub weekly_occurrences: Option<String>,
}

/// Every IANA time zone name the pages offer, sorted.
pub fn time_zone_names() -> &'static [String] {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|n| n.as_str().to_owned())
            .filter(|n| {
                n == "UTC"
                    || (n.contains('/')
                        && !n.starts_with("Etc/")
                        && !n.starts_with("SystemV/")
                        && !n.starts_with("posix")
                        && !n.starts_with("right/"))
            })
            .collect();
        names.sort();
        names.dedup();
        names
    });
    &NAMES
}

fn zone(field: &str, name: &str) -> Result<jiff::tz::TimeZone> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::validation(field, "is required"));
    }
    jiff::tz::TimeZone::get(name).map_err(|_| {
        Error::validation(
            field,
            format!("{name:?} is not a time zone name like Europe/Berlin"),
        )
    })
}

/// The instant a local date and time in `timezone` names, as RFC 3339 (UTC), and its weekday
/// there (1 = Sunday ... 7 = Saturday, as Zoom counts). A time that a DST change skips moves
/// forward, one it repeats takes the earlier instant.
pub fn local_start(date: &str, time: &str, timezone: &str) -> Result<(String, u8)> {
    let tz = zone("timezone", timezone)?;
    let date: jiff::civil::Date = date
        .trim()
        .parse()
        .map_err(|_| Error::validation("date", "must be a date like 2026-12-01"))?;
    let time: jiff::civil::Time = time
        .trim()
        .parse()
        .map_err(|_| Error::validation("time", "must be a time like 14:30"))?;
    let zoned = date
        .to_datetime(time)
        .to_zoned(tz)
        .map_err(|_| Error::validation("date", "is out of range"))?;
    let weekday = zoned.weekday().to_sunday_one_offset() as u8;
    let utc = zoned.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok((utc, weekday))
}

fn in_zone(at: OffsetDateTime, timezone: Option<&str>) -> Option<jiff::Zoned> {
    let tz = timezone
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(at.unix_timestamp())
        .ok()
        .map(|t| t.to_zoned(tz))
}

/// "Tue 1 Dec 2026, 14:30 CET" in the meeting's own time zone (UTC when it has none).
pub fn display_time(at: OffsetDateTime, timezone: Option<&str>) -> String {
    in_zone(at, timezone)
        .map(|z| z.strftime("%a %-d %b %Y, %H:%M %Z").to_string())
        .unwrap_or_default()
}

/// The local date (`YYYY-MM-DD`) and time (`HH:MM`) of an instant in a time zone, for prefilling
/// a form.
pub fn local_parts(at: OffsetDateTime, timezone: Option<&str>) -> (String, String) {
    in_zone(at, timezone)
        .map(|z| {
            (
                z.strftime("%Y-%m-%d").to_string(),
                z.strftime("%H:%M").to_string(),
            )
        })
        .unwrap_or_default()
}

fn duration(value: &str) -> Result<i32> {
    value
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=1440).contains(d))
        .ok_or_else(|| Error::validation("duration", "must be 1 to 1440 minutes"))
}

fn label(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}

/// A series' recurrence (Zoom's JSON, as stored) as it becomes when the series moves from a
/// start on weekday `was` to `date` (local, on `weekday`; 1 = Sunday): a weekly series takes
/// its weekdays along (one weekday becomes the new date's; several shift by as many days as the
/// start moved), a monthly one its day of the month. Interval and end stay as stored. `None`
/// when nothing needs recomputing (daily, or no recurrence): the update then sends the stored
/// recurrence as it is, which Zoom needs with every new start of a series.
fn moved_recurrence(
    stored: Option<&serde_json::value::RawValue>,
    was: Option<u8>,
    date: &str,
    weekday: u8,
) -> Option<RecurrenceInput> {
    let stored: serde_json::Value = serde_json::from_str(stored?.get()).ok()?;
    let number = |name: &str| stored.get(name).and_then(serde_json::Value::as_u64);
    let repeat_interval = number("repeat_interval").and_then(|n| u32::try_from(n).ok());
    let end_date_time = stored
        .get("end_date_time")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    // Zoom takes one of the two ends; an end date, when Zoom reports one, is the one it keeps.
    let end_times = match end_date_time {
        Some(_) => None,
        None => number("end_times").and_then(|n| u32::try_from(n).ok()),
    };
    let base = RecurrenceInput {
        kind: String::new(),
        repeat_interval,
        weekly_days: None,
        monthly_day: None,
        end_times,
        end_date_time,
    };
    match number("type")? {
        2 => {
            let days: Vec<u8> = stored
                .get("weekly_days")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .split(',')
                .filter_map(|d| d.trim().parse::<u8>().ok())
                .filter(|d| (1..=7).contains(d))
                .collect();
            let weekly_days = if days.len() > 1
                && let Some(was) = was
            {
                let shift = (7 + weekday - was) % 7;
                let mut shifted: Vec<u8> = days.iter().map(|d| (d - 1 + shift) % 7 + 1).collect();
                shifted.sort_unstable();
                shifted.dedup();
                shifted
            } else {
                vec![weekday]
            };
            Some(RecurrenceInput {
                kind: "weekly".into(),
                weekly_days: Some(weekly_days),
                ..base
            })
        }
        3 if stored.get("monthly_day").is_some() => {
            let day = date.trim().parse::<jiff::civil::Date>().ok()?.day();
            Some(RecurrenceInput {
                kind: "monthly".into(),
                monthly_day: u8::try_from(day).ok(),
                ..base
            })
        }
        _ => None,
    }
}

/// The weekday (1 = Sunday) of an instant in a time zone.
fn local_weekday(at: OffsetDateTime, timezone: Option<&str>) -> Option<u8> {
    in_zone(at, timezone).map(|z| z.weekday().to_sunday_one_offset() as u8)
}

impl Services {
    /// Schedules a session for the member: once, or weekly on the same weekday.
    pub async fn schedule_member_session(
        &self,
        ctx: &Ctx,
        external_id: &str,
        s: &SessionSchedule,
        idempotency_key: Option<&str>,
    ) -> Result<MeetingCreated> {
        let (start_time, weekday) = local_start(&s.slot.date, &s.slot.time, &s.slot.timezone)?;
        let occurrences = s
            .weekly_occurrences
            .as_deref()
            .map(|n| {
                n.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (2..=MAX_OCCURRENCES).contains(n))
                    .ok_or_else(|| {
                        Error::validation(
                            "occurrences",
                            format!("must be 2 to {MAX_OCCURRENCES} sessions"),
                        )
                    })
            })
            .transpose()?;
        let input = CreateMeeting {
            kind: Some(
                if occurrences.is_some() {
                    "recurring"
                } else {
                    "scheduled"
                }
                .into(),
            ),
            client_label: label(&s.client_label),
            start_time: Some(start_time),
            duration: Some(duration(&s.slot.duration)?),
            timezone: Some(s.slot.timezone.trim().to_owned()),
            recurrence: occurrences.map(|n| RecurrenceInput {
                kind: "weekly".into(),
                repeat_interval: Some(1),
                weekly_days: Some(vec![weekday]),
                monthly_day: None,
                end_times: Some(n),
                end_date_time: None,
            }),
            ..CreateMeeting::default()
        };
        self.create_meeting(ctx, external_id, &input, idempotency_key)
            .await
    }

    /// An instant meeting for the member, with an optional client label (sent to Zoom as the
    /// topic only when the tenant allows it; `create_meeting` decides).
    pub async fn start_member_meeting(
        &self,
        ctx: &Ctx,
        external_id: &str,
        client_label: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<MeetingCreated> {
        let input = CreateMeeting {
            kind: Some("instant".into()),
            client_label: label(&client_label),
            ..CreateMeeting::default()
        };
        self.create_meeting(ctx, external_id, &input, idempotency_key)
            .await
    }

    /// One of the member's own meetings. Another member's meeting answers like one that does
    /// not exist.
    pub async fn member_meeting(
        &self,
        ctx: &Ctx,
        external_id: &str,
        id: MeetingId,
    ) -> Result<MeetingView> {
        let view = self.get_meeting(ctx, id).await?;
        if view.user != external_id || view.status == "deleted" {
            return Err(Error::NotFound { what: "meeting" });
        }
        Ok(view)
    }

    /// Moves one of the member's meetings to another local date and time (and duration).
    pub async fn reschedule_member_meeting(
        &self,
        ctx: &Ctx,
        external_id: &str,
        id: MeetingId,
        slot: &LocalSlot,
    ) -> Result<MeetingView> {
        let current = self.member_meeting(ctx, external_id, id).await?;
        if current.kind == "instant" {
            return Err(Error::Conflict(
                "an instant meeting has no time to move; schedule a session instead".into(),
            ));
        }
        let (start_time, weekday) = local_start(&slot.date, &slot.time, &slot.timezone)?;
        if OffsetDateTime::parse(&start_time, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|t| t < ctx.now)
        {
            return Err(Error::validation("date", "is in the past"));
        }
        let patch = MeetingPatch {
            start_time: Some(start_time),
            duration: Some(duration(&slot.duration)?),
            timezone: Some(slot.timezone.trim().to_owned()),
            recurrence: moved_recurrence(
                current.recurrence.as_deref(),
                current
                    .start_time
                    .and_then(|t| local_weekday(t, current.timezone.as_deref())),
                &slot.date,
                weekday,
            ),
            ..MeetingPatch::default()
        };
        self.update_meeting(ctx, id, &patch, None).await
    }

    /// Cancels one of the member's meetings at Zoom.
    pub async fn cancel_member_meeting(
        &self,
        ctx: &Ctx,
        external_id: &str,
        id: MeetingId,
    ) -> Result<()> {
        self.member_meeting(ctx, external_id, id).await?;
        self.delete_meeting(ctx, id, None).await
    }

    /// The statuses of the member's meetings among `ids` (at most [`STATUSES_AT_ONCE`]), for
    /// the pages' live status: one indexed read, nothing decrypted. Others' meetings and
    /// unknown ids are left out.
    pub async fn member_meeting_statuses(
        &self,
        ctx: &Ctx,
        external_id: &str,
        ids: &[MeetingId],
    ) -> Result<Vec<(MeetingId, MeetingStatus)>> {
        let Some(end_user) = self.store.find_end_user(ctx.tenant(), external_id).await? else {
            return Ok(Vec::new());
        };
        let ids: Vec<MeetingId> = ids.iter().copied().take(STATUSES_AT_ONCE).collect();
        let query = MeetingQuery {
            end_user_id: Some(end_user.id),
            window: MeetingWindow::All,
            include_deleted: true,
            after: None,
            ids: Some(ids),
            limit: u32::try_from(STATUSES_AT_ONCE).unwrap_or(u32::MAX),
            now: ctx.now,
        };
        Ok(self
            .store
            .list_meetings(ctx.tenant(), &query)
            .await?
            .into_iter()
            .map(|m| (m.id, m.status))
            .collect())
    }

    /// The member's meetings in a window: upcoming soonest first (those without a fixed time
    /// first of all), past most recent first; at most `max`.
    pub async fn member_meetings(
        &self,
        ctx: &Ctx,
        external_id: &str,
        window: MeetingWindow,
        max: usize,
    ) -> Result<Vec<MeetingView>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_meetings(ctx, Some(external_id), window, cursor.as_deref(), 100)
                .await?;
            all.extend(page.data);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        match window {
            MeetingWindow::Past => {
                all.sort_by_key(|m| std::cmp::Reverse(m.start_time.unwrap_or(m.created_at)))
            }
            _ => all.sort_by_key(|m| (m.start_time.is_some(), m.start_time, m.created_at)),
        }
        all.truncate(max);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_become_utc_instants_with_their_weekday() {
        // 1 December 2026 is a Tuesday; Berlin is UTC+1 in winter.
        assert_eq!(
            local_start("2026-12-01", "14:30", "Europe/Berlin").unwrap(),
            ("2026-12-01T13:30:00Z".to_owned(), 3)
        );
        // In summer, UTC+2.
        assert_eq!(
            local_start("2026-07-01", "09:00", "Europe/Berlin")
                .unwrap()
                .0,
            "2026-07-01T07:00:00Z"
        );
        assert!(local_start("2026-12-01", "14:30", "Mars/Olympus").is_err());
        assert!(local_start("2026-13-01", "14:30", "UTC").is_err());
        assert!(local_start("2026-12-01", "25:00", "UTC").is_err());
    }

    fn raw(json: &str) -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn a_moved_series_takes_its_weekdays_along() {
        // Mondays, moved to a Wednesday (4): Wednesdays, count and interval kept.
        let weekly = raw(r#"{"type":2,"repeat_interval":2,"weekly_days":"2","end_times":5}"#);
        let moved = moved_recurrence(Some(&weekly), Some(2), "2031-03-05", 4).unwrap();
        assert_eq!(moved.kind, "weekly");
        assert_eq!(moved.weekly_days, Some(vec![4]));
        assert_eq!(moved.repeat_interval, Some(2));
        assert_eq!((moved.end_times, moved.end_date_time), (Some(5), None));
        // Monday and Friday, moved from a Monday to a Wednesday: Wednesday and Sunday.
        let two = raw(
            r#"{"type":2,"repeat_interval":1,"weekly_days":"2,6","end_date_time":"2031-06-01T00:00:00Z"}"#,
        );
        let moved = moved_recurrence(Some(&two), Some(2), "2031-03-05", 4).unwrap();
        assert_eq!(moved.weekly_days, Some(vec![1, 4]));
        assert_eq!(moved.end_date_time.as_deref(), Some("2031-06-01T00:00:00Z"));
        assert_eq!(moved.end_times, None);
        // A monthly series on a day of the month takes the new day.
        let monthly = raw(r#"{"type":3,"repeat_interval":1,"monthly_day":3,"end_times":3}"#);
        let moved = moved_recurrence(Some(&monthly), Some(2), "2031-03-05", 4).unwrap();
        assert_eq!(
            (moved.kind.as_str(), moved.monthly_day),
            ("monthly", Some(5))
        );
        // Daily series and meetings without a recurrence keep what they have.
        let daily = raw(r#"{"type":1,"repeat_interval":1,"end_times":3}"#);
        assert!(moved_recurrence(Some(&daily), Some(2), "2031-03-05", 4).is_none());
        assert!(moved_recurrence(None, None, "2031-03-05", 4).is_none());
    }

    #[test]
    fn times_are_shown_in_the_meetings_zone() {
        let at = OffsetDateTime::parse(
            "2026-12-01T13:30:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(
            display_time(at, Some("Europe/Berlin")),
            "Tue 1 Dec 2026, 14:30 CET"
        );
        assert_eq!(display_time(at, None), "Tue 1 Dec 2026, 13:30 UTC");
        assert_eq!(
            local_parts(at, Some("America/New_York")),
            ("2026-12-01".to_owned(), "08:30".to_owned())
        );
        assert!(
            time_zone_names().iter().any(|n| n == "Europe/Berlin")
                && time_zone_names().iter().any(|n| n == "UTC")
        );
    }
}
