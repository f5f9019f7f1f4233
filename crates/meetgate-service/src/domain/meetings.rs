//! Meetings on behalf of a connected user: create (idempotent, reconciled after a lost answer),
//! list, get, update, delete, and the start URL fetched at click time.

use std::future::Future;

use meetgate_store::models::{
    AppType, IdempotencyClaim, Meeting, MeetingKind, MeetingQuery, MeetingStatus, MeetingUpdate,
    MeetingWindow, NewMeeting,
};
use meetgate_store::{CompleteIdempotency, Effects, HeldKey, MeetingId, SealedColumn};
use meetgate_zoom::scopes::Operation;
use meetgate_zoom::{
    ApiError, ApiErrorKind, MeetingRequest, Secret, UserTarget, ZoomApi, ZoomMeeting,
    ZoomMeetingType,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::idempotent::{ClaimedKey, Keyed};
use super::meeting_view::MeetingDetails;
use super::tokens::Grant;
use super::{Ctx, MeetingView, Services, TenantSettings};
use crate::secrets::sha256;
use crate::{Error, Result};

/// Recurrence, in Zoom's terms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceInput {
    /// `daily`, `weekly` or `monthly`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Every this many days (at most 90), weeks (12) or months (3); default 1.
    pub repeat_interval: Option<u32>,
    /// For weekly: days 1 (Sunday) to 7 (Saturday).
    pub weekly_days: Option<Vec<u8>>,
    #[schema(minimum = 1, maximum = 31)]
    pub monthly_day: Option<u8>,
    /// How many occurrences (at most 60); or `end_date_time`.
    #[schema(minimum = 1, maximum = 60)]
    pub end_times: Option<u32>,
    /// RFC 3339; or `end_times`.
    #[schema(format = DateTime)]
    pub end_date_time: Option<String>,
}

/// Meeting settings a request may ask for; the tenant's policy fills and may override them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingSettingsInput {
    pub waiting_room: Option<bool>,
    pub join_before_host: Option<bool>,
    pub mute_upon_entry: Option<bool>,
    pub host_video: Option<bool>,
    pub participant_video: Option<bool>,
    /// `none`, `local` or `cloud`.
    pub auto_recording: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMeeting {
    /// `instant` (default), `scheduled` or `recurring`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[schema(max_length = 200)]
    pub topic: Option<String>,
    /// A label for the clinician's own use (e.g. the client's name). Stored encrypted; sent to
    /// Zoom as the topic only when the tenant allows it.
    #[schema(max_length = 200)]
    pub client_label: Option<String>,
    /// RFC 3339, e.g. `2026-12-01T15:00:00Z`, not in the past. Required for scheduled
    /// meetings, and for recurring ones with a `recurrence` (a recurring meeting with neither
    /// is Zoom's recurring meeting with no fixed time).
    #[schema(format = DateTime)]
    pub start_time: Option<String>,
    /// Minutes, 1 to 1440.
    #[schema(minimum = 1, maximum = 1440)]
    pub duration: Option<i32>,
    /// IANA name, e.g. `Europe/Berlin`.
    #[schema(pattern = r"^[A-Za-z0-9/_+\-]{1,64}$")]
    pub timezone: Option<String>,
    #[schema(max_length = 2000)]
    pub agenda: Option<String>,
    /// At most 10 characters of `[A-Za-z0-9@-_*]`.
    #[schema(pattern = r"^[A-Za-z0-9@_*\-]{1,10}$")]
    pub password: Option<String>,
    /// For a recurring meeting with a `start_time`.
    pub recurrence: Option<RecurrenceInput>,
    pub settings: Option<MeetingSettingsInput>,
    /// Admin-managed and server-to-server connections only: the Zoom user (id or email) of the
    /// connected account to host the meeting. Default: the connected user.
    pub host: Option<String>,
}

/// A partial update: absent (or `null`) fields stay as they are; an empty `client_label` or
/// `agenda` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingPatch {
    #[schema(max_length = 200)]
    pub topic: Option<String>,
    #[schema(max_length = 200)]
    pub client_label: Option<String>,
    /// RFC 3339, e.g. `2026-12-01T15:00:00Z`. A recurring meeting with fixed occurrences keeps
    /// its stored `recurrence` (weekdays included) unless one is given with it. A recurring
    /// meeting with no fixed time takes a `start_time` only together with a `recurrence`: the
    /// two make it one with fixed occurrences.
    #[schema(format = DateTime)]
    pub start_time: Option<String>,
    /// Minutes, 1 to 1440.
    #[schema(minimum = 1, maximum = 1440)]
    pub duration: Option<i32>,
    /// IANA name, e.g. `Europe/Berlin`.
    #[schema(pattern = r"^[A-Za-z0-9/_+\-]{1,64}$")]
    pub timezone: Option<String>,
    #[schema(max_length = 2000)]
    pub agenda: Option<String>,
    /// At most 10 characters of `[A-Za-z0-9@-_*]`.
    #[schema(pattern = r"^[A-Za-z0-9@_*\-]{1,10}$")]
    pub password: Option<String>,
    /// Recurring meetings only; replaces the whole recurrence. On a recurring meeting with no
    /// fixed time, only together with a `start_time`.
    pub recurrence: Option<RecurrenceInput>,
    pub settings: Option<MeetingSettingsInput>,
}

/// A create's answer, and whether it was replayed from an earlier request with the same key.
/// The body is JSON text, exactly as first sent: serialized once, then both sent and stored.
#[derive(Debug)]
pub struct MeetingCreated {
    pub status: u16,
    pub body: Box<RawValue>,
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeetingList {
    pub data: Vec<MeetingView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What an interrupted create left behind for the next attempt to reconcile. No health data:
/// the topic is kept only as a fingerprint.
/// Where a create goes and what it notes for reconciliation, worked out before the key's claim.
struct CreatePlan {
    grant: Grant,
    target: UserTarget,
    recovery: CreateRecovery,
}

/// An idempotency key this request holds. `recovered`: the key was taken over from an attempt
/// that died, with that attempt's note (if it left a readable one).
struct Claimed {
    held: HeldKey,
    record_id: uuid::Uuid,
    recovered: Option<Option<CreateRecovery>>,
    /// No Zoom call starts after this (see `last_call_before`).
    last_call_before: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct CreateRecovery {
    started_at: i64,
    zoom_type: u8,
    topic_fingerprint: String,
    start_time: Option<String>,
    target: String,
}

/// A meeting's write refused by the store because something moved while Zoom worked.
fn refused_meeting_write(e: meetgate_store::StoreError) -> Error {
    match e {
        meetgate_store::StoreError::Precondition { what: "connection" } => Error::NeedsReauth {
            state: "revoked",
            reason: "the connection was revoked (the user removed the app in Zoom, or it was disconnected) while Zoom was being asked".into(),
            connect_url: None,
        },
        // Another request with this key took it over: it records the outcome.
        meetgate_store::StoreError::Precondition { .. } => Error::IdempotencyInProgress,
        other => Error::from(other),
    }
}

fn topic_fingerprint(topic: Option<&str>) -> String {
    hex::encode(&sha256(topic.unwrap_or_default().as_bytes())[..12])
}

/// Meeting times are accepted from 1970 up to (not including) this UTC year: far enough for any
/// meeting, and far enough from the end of the representable range (year 9999) that adding a
/// duration, a link's grace period or an offset can never overflow.
const LAST_YEAR: i32 = 3000;

/// Zoom's meeting type for an instant meeting, as the recovery note stores it.
const INSTANT: u8 = ZoomMeetingType::Instant as u8;

pub(crate) fn parse_time(field: &str, value: &str) -> Result<OffsetDateTime> {
    let parsed = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        Error::validation(
            field,
            "must be an RFC 3339 date-time like 2026-12-01T15:00:00Z",
        )
    })?;
    // In UTC, as Zoom is sent it: an offset can push a valid local time out of range.
    match parsed.checked_to_offset(time::UtcOffset::UTC) {
        Some(utc) if (1970..LAST_YEAR).contains(&utc.year()) => Ok(parsed),
        _ => Err(Error::validation(
            field,
            format!("must be a date-time from 1970 to {}", LAST_YEAR - 1),
        )),
    }
}

/// Zoom's `yyyy-MM-ddTHH:mm:ssZ`.
fn zoom_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// At most `max` characters, and no control characters but line breaks and tabs (which an
/// agenda may hold): what is stored here is shown on pages and sent to Zoom.
fn check_len(field: &str, value: &Option<String>, max: usize) -> Result<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(Error::validation(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(v)
            if v.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Err(Error::validation(
                field,
                "must not contain control characters",
            ))
        }
        _ => Ok(()),
    }
}

/// `host` becomes a path segment of a Zoom URL: only `me`, a Zoom user id or an email, so that
/// no value (`..`, a slash) can point the call at another of Zoom's endpoints.
pub(crate) fn check_host(value: Option<&str>) -> Result<()> {
    let Some(host) = value.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let user_id = host.len() <= 64
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let email = host.len() <= 254
        && host.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !host.contains(['/', '\\', '?', '#', '%'])
                && !host.chars().any(|c| c.is_whitespace() || c.is_control())
        });
    if user_id || email {
        Ok(())
    } else {
        Err(Error::validation(
            "host",
            "must be a Zoom user id or the user's email address",
        ))
    }
}

fn check_password(value: &Option<String>) -> Result<()> {
    if let Some(p) = value {
        let ok = !p.is_empty()
            && p.len() <= 10
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@-_*".contains(&b));
        if !ok {
            return Err(Error::validation(
                "password",
                "must be 1 to 10 characters of letters, digits and @ - _ *",
            ));
        }
    }
    Ok(())
}

/// A name of the bundled time zone database (the pages offer the same list): a made-up name
/// that only looks right would reach Zoom and come back as Zoom's error.
fn check_timezone(value: &Option<String>) -> Result<()> {
    if let Some(tz) = value {
        let ok = !tz.is_empty()
            && tz.len() <= 64
            && tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
            && jiff::tz::TimeZone::get(tz).is_ok();
        if !ok {
            return Err(Error::validation(
                "timezone",
                "must be an IANA time zone name like Europe/Berlin",
            ));
        }
    }
    Ok(())
}

/// `occurrence_id` names one occurrence of a recurring meeting. Never empty: an empty value must
/// not reach Zoom, nor be taken for "the whole series".
fn check_occurrence(meeting: &Meeting, occurrence_id: Option<&str>) -> Result<()> {
    match occurrence_id {
        Some(o) if o.trim().is_empty() => {
            Err(Error::validation("occurrence_id", "must not be empty"))
        }
        Some(_) if meeting.kind != MeetingKind::Recurring => Err(Error::validation(
            "occurrence_id",
            "only recurring meetings have occurrences",
        )),
        _ => Ok(()),
    }
}

fn check_duration(value: Option<i32>) -> Result<()> {
    match value {
        Some(d) if !(1..=1440).contains(&d) => {
            Err(Error::validation("duration", "must be 1 to 1440 minutes"))
        }
        _ => Ok(()),
    }
}

/// A start a few minutes ago still counts as now (a form filled in slowly, a clock behind).
fn check_not_past(start: OffsetDateTime, now: OffsetDateTime) -> Result<()> {
    if start < now - time::Duration::minutes(5) {
        return Err(Error::validation("start_time", "is in the past"));
    }
    Ok(())
}

fn recurrence_json(r: &RecurrenceInput) -> Result<Value> {
    let kind = match r.kind.as_str() {
        "daily" => 1,
        "weekly" => 2,
        "monthly" => 3,
        _ => {
            return Err(Error::validation(
                "recurrence.type",
                "must be daily, weekly or monthly",
            ));
        }
    };
    // Zoom's limits: every 90 days, 12 weeks or 3 months at most.
    let (name, longest) = match kind {
        1 => ("daily", 90),
        2 => ("weekly", 12),
        _ => ("monthly", 3),
    };
    let interval = r.repeat_interval.unwrap_or(1);
    if !(1..=longest).contains(&interval) {
        return Err(Error::validation(
            "recurrence.repeat_interval",
            format!("must be 1 to {longest} for {name} recurrence"),
        ));
    }
    let mut v = json!({ "type": kind, "repeat_interval": interval });
    if let Some(days) = &r.weekly_days {
        if days.is_empty() || days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(Error::validation(
                "recurrence.weekly_days",
                "must list days 1 (Sunday) to 7 (Saturday)",
            ));
        }
        v["weekly_days"] = json!(days.iter().map(u8::to_string).collect::<Vec<_>>().join(","));
    } else if kind == 2 {
        return Err(Error::validation(
            "recurrence.weekly_days",
            "is required for weekly recurrence",
        ));
    }
    if let Some(day) = r.monthly_day {
        if !(1..=31).contains(&day) {
            return Err(Error::validation(
                "recurrence.monthly_day",
                "must be 1 to 31",
            ));
        }
        v["monthly_day"] = json!(day);
    } else if kind == 3 {
        return Err(Error::validation(
            "recurrence.monthly_day",
            "is required for monthly recurrence",
        ));
    }
    match (r.end_times, &r.end_date_time) {
        (Some(_), Some(_)) => {
            return Err(Error::validation(
                "recurrence",
                "give end_times or end_date_time, not both",
            ));
        }
        (Some(n), None) if !(1..=60).contains(&n) => {
            return Err(Error::validation("recurrence.end_times", "must be 1 to 60"));
        }
        (Some(n), None) => v["end_times"] = json!(n),
        (None, Some(t)) => {
            v["end_date_time"] = json!(zoom_time(parse_time("recurrence.end_date_time", t)?))
        }
        (None, None) => v["end_times"] = json!(7),
    }
    Ok(v)
}

fn settings_json(policy: &super::MeetingPolicy, asked: &MeetingSettingsInput) -> Result<Value> {
    let recording = policy.auto_recording.resolve(asked.auto_recording.clone());
    if !matches!(recording.as_str(), "none" | "local" | "cloud") {
        return Err(Error::validation(
            "settings.auto_recording",
            "must be none, local or cloud",
        ));
    }
    Ok(json!({
        "waiting_room": policy.waiting_room.resolve(asked.waiting_room),
        "join_before_host": policy.join_before_host.resolve(asked.join_before_host),
        "mute_upon_entry": policy.mute_upon_entry.resolve(asked.mute_upon_entry),
        "host_video": policy.host_video.resolve(asked.host_video),
        "participant_video": policy.participant_video.resolve(asked.participant_video),
        "auto_recording": recording,
    }))
}

/// The topic sent to Zoom: never the client label unless the tenant allows it.
fn zoom_topic(settings: &TenantSettings, topic: Option<&str>, label: Option<&str>) -> String {
    match (
        topic.filter(|t| !t.trim().is_empty()),
        label.filter(|l| !l.trim().is_empty()),
    ) {
        (Some(t), _) => t.to_owned(),
        (None, Some(l)) if settings.client_label_in_topic => l.to_owned(),
        _ => settings.default_topic.clone(),
    }
}

struct Validated {
    kind: MeetingKind,
    request: MeetingRequest,
    start_time: Option<OffsetDateTime>,
    /// The Zoom topic is meetgate's default (no topic given, no client label put in it).
    topic_is_default: bool,
}

fn validate_create(
    input: &CreateMeeting,
    settings: &TenantSettings,
    now: OffsetDateTime,
) -> Result<Validated> {
    check_len("topic", &input.topic, 200)?;
    check_len("client_label", &input.client_label, 200)?;
    check_len("agenda", &input.agenda, 2000)?;
    check_host(input.host.as_deref())?;
    check_password(&input.password)?;
    check_timezone(&input.timezone)?;
    check_duration(input.duration)?;
    let kind = match input.kind.as_deref().unwrap_or("instant") {
        "instant" => MeetingKind::Instant,
        "scheduled" => MeetingKind::Scheduled,
        "recurring" => MeetingKind::Recurring,
        _ => {
            return Err(Error::validation(
                "type",
                "must be instant, scheduled or recurring",
            ));
        }
    };
    let start_time = input
        .start_time
        .as_deref()
        .map(|t| parse_time("start_time", t))
        .transpose()?;
    let (zoom_type, recurrence) = match kind {
        MeetingKind::Instant => {
            if input.recurrence.is_some() {
                return Err(Error::validation(
                    "recurrence",
                    "only recurring meetings recur",
                ));
            }
            (ZoomMeetingType::Instant, None)
        }
        MeetingKind::Scheduled => {
            let Some(start) = start_time else {
                return Err(Error::validation(
                    "start_time",
                    "is required for scheduled meetings",
                ));
            };
            check_not_past(start, now)?;
            if input.recurrence.is_some() {
                return Err(Error::validation(
                    "recurrence",
                    "use type recurring for a recurring meeting",
                ));
            }
            (ZoomMeetingType::Scheduled, None)
        }
        // With a start time and a recurrence the occurrences are fixed (Zoom type 8); with
        // neither, the meeting recurs with no fixed time (type 3), which has no recurrence.
        MeetingKind::Recurring => match (start_time, &input.recurrence) {
            (Some(start), Some(r)) => {
                check_not_past(start, now)?;
                let json = recurrence_json(r)?;
                if let Some(end) = &r.end_date_time
                    && parse_time("recurrence.end_date_time", end)? <= start
                {
                    return Err(Error::validation(
                        "recurrence.end_date_time",
                        "must be after start_time",
                    ));
                }
                (ZoomMeetingType::RecurringFixedTime, Some(json))
            }
            (None, None) => (ZoomMeetingType::RecurringNoFixedTime, None),
            (Some(_), None) => {
                return Err(Error::validation(
                    "recurrence",
                    "is required for a recurring meeting with a start_time",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::validation(
                    "start_time",
                    "is required with a recurrence (a recurring meeting with no fixed time has neither)",
                ));
            }
        },
    };
    let settings_value = settings_json(
        &settings.meeting_policy,
        &input.settings.clone().unwrap_or_default(),
    )?;
    let request = MeetingRequest {
        topic: Some(zoom_topic(
            settings,
            input.topic.as_deref(),
            input.client_label.as_deref(),
        )),
        meeting_type: Some(zoom_type),
        start_time: start_time.map(zoom_time),
        duration: input
            .duration
            .or(Some(if kind == MeetingKind::Instant { 60 } else { 30 })),
        timezone: input.timezone.clone(),
        password: input.password.clone(),
        agenda: input.agenda.clone(),
        recurrence,
        settings: Some(settings_value),
    };
    let topic_is_default = input.topic.as_deref().is_none_or(|t| t.trim().is_empty())
        && !(settings.client_label_in_topic
            && input
                .client_label
                .as_deref()
                .is_some_and(|l| !l.trim().is_empty()));
    Ok(Validated {
        kind,
        request,
        start_time,
        topic_is_default,
    })
}

/// Zoom's answer, as meetgate keeps it (sealed).
fn details_from(
    zoom: &ZoomMeeting,
    label: Option<String>,
    topic_sent_is_label: bool,
) -> MeetingDetails {
    MeetingDetails {
        // If the topic at Zoom is only the tenant default, the meeting's own topic is unset.
        topic: if topic_sent_is_label {
            None
        } else {
            zoom.topic.clone()
        },
        agenda: zoom.agenda.clone(),
        client_label: label,
        join_url: zoom.join_url.clone(),
        password: zoom.password.clone(),
        settings: zoom.settings.clone(),
        recurrence: zoom.recurrence.clone(),
        occurrences: zoom
            .occurrences
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok()),
    }
}

/// The meeting type and recurrence an update sends to Zoom, which handles a series' time only
/// together with its recurrence. A series with fixed occurrences (type 8) must get the
/// recurrence with every future `start_time`, or Zoom refuses the change; when the update gives
/// none, the stored one goes along unchanged. A series with no fixed time (type 3) ignores a
/// `start_time` unless the update also makes it type 8, which a `start_time` with a
/// `recurrence` does; either of the two alone would be dropped at Zoom without a word, so it is
/// refused here.
fn series_change(
    meeting: &Meeting,
    stored: &MeetingDetails,
    patch: &MeetingPatch,
    start: Option<OffsetDateTime>,
    occurrence_id: Option<&str>,
) -> Result<(Option<ZoomMeetingType>, Option<Value>)> {
    let asked = patch.recurrence.as_ref().map(recurrence_json).transpose()?;
    if meeting.kind != MeetingKind::Recurring || occurrence_id.is_some() {
        return Ok((None, asked));
    }
    let fixed_time = meeting.start_time.is_some() || stored.recurrence.is_some();
    if !fixed_time {
        return match (start, asked) {
            (Some(_), Some(recurrence)) => {
                Ok((Some(ZoomMeetingType::RecurringFixedTime), Some(recurrence)))
            }
            (None, None) => Ok((None, None)),
            (Some(_), None) => Err(Error::validation(
                "recurrence",
                "is required with a start_time for a recurring meeting with no fixed time (the two together fix its occurrences)",
            )),
            (None, Some(_)) => Err(Error::validation(
                "start_time",
                "is required with a recurrence for a recurring meeting with no fixed time (the two together fix its occurrences)",
            )),
        };
    }
    match (start, asked) {
        (_, Some(recurrence)) => Ok((None, Some(recurrence))),
        (Some(_), None) => {
            let Some(raw) = stored.recurrence.as_deref() else {
                return Err(Error::validation(
                    "recurrence",
                    "is required with a start_time for this recurring meeting",
                ));
            };
            let recurrence = serde_json::from_str(raw.get())
                .map_err(|e| Error::Internal(format!("stored recurrence unreadable: {e}")))?;
            Ok((None, Some(recurrence)))
        }
        (None, None) => Ok((None, None)),
    }
}

/// An update's fields as sent to Zoom, applied to meetgate's copy when Zoom's answer to reading
/// the meeting back was lost. Zoom merges `settings` into the meeting's (a PATCH changes only
/// the keys it names), and replaces `recurrence`; the occurrences it then computes are unknown
/// until the next read, so they are dropped rather than kept wrong.
fn apply_sent(
    details: &mut MeetingDetails,
    patch: &MeetingPatch,
    sent: &MeetingRequest,
) -> Result<()> {
    let cleared = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    if patch.topic.is_some() {
        details.topic = cleared(&patch.topic);
    }
    if patch.agenda.is_some() {
        details.agenda = cleared(&patch.agenda);
    }
    if let Some(Value::Object(changes)) = &sent.settings {
        let mut merged = match details.settings.as_deref() {
            Some(raw) => serde_json::from_str::<serde_json::Map<String, Value>>(raw.get())
                .map_err(Error::internal)?,
            None => serde_json::Map::new(),
        };
        merged.extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
        details.settings = Some(serde_json::value::to_raw_value(&merged).map_err(Error::internal)?);
    }
    if let Some(recurrence) = &sent.recurrence {
        details.recurrence =
            Some(serde_json::value::to_raw_value(recurrence).map_err(Error::internal)?);
    }
    if sent.recurrence.is_some() || sent.start_time.is_some() || sent.duration.is_some() {
        details.occurrences = None;
    }
    Ok(())
}

fn zoom_start(zoom: &ZoomMeeting) -> Option<OffsetDateTime> {
    zoom.start_time
        .as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

impl Services {
    /// Calls Zoom with the grant's token; on 124 refreshes once (unless a sibling did) and
    /// retries once, leaving the refreshed grant in `grant`. Zoom's other errors come back
    /// translated, with a fix.
    pub(crate) async fn call_zoom<T, F, Fut>(
        &self,
        grant: &mut Grant,
        op: Operation,
        target: &UserTarget,
        now: OffsetDateTime,
        f: F,
    ) -> Result<T>
    where
        F: Fn(ZoomApi, Secret) -> Fut,
        Fut: Future<Output = std::result::Result<T, ApiError>>,
    {
        self.call_zoom_until(grant, op, target, now, None, f).await
    }

    /// [`Services::call_zoom`] for the holder of an idempotency key: no call, the retry after a
    /// refresh included, starts after `last_call` (see `last_call_before`); past it, the
    /// outcome is unknown and the key stays held for a retry to reconcile.
    async fn call_zoom_until<T, F, Fut>(
        &self,
        grant: &mut Grant,
        op: Operation,
        target: &UserTarget,
        now: OffsetDateTime,
        last_call: Option<OffsetDateTime>,
        f: F,
    ) -> Result<T>
    where
        F: Fn(ZoomApi, Secret) -> Fut,
        Fut: Future<Output = std::result::Result<T, ApiError>>,
    {
        let api = self
            .zoom_apis
            .at(&grant.conn.api_url)
            .map_err(|e| Error::Internal(format!("stored api_url is unusable: {e}")))?;
        let too_late = || last_call.is_some_and(|last| self.clock.now() > last);
        if too_late() {
            return Err(self.outcome_unknown());
        }
        match f(api.clone(), grant.token.clone()).await {
            Ok(v) => Ok(v),
            Err(e) if e.kind == ApiErrorKind::TokenInvalid => {
                *grant = self.regrant_after_rejection(grant, now).await?;
                if too_late() {
                    return Err(self.outcome_unknown());
                }
                f(api, grant.token.clone())
                    .await
                    .map_err(|e| self.zoom_error(&grant.conn, &grant.app, op, target, e, now))
            }
            Err(e) => Err(self.zoom_error(&grant.conn, &grant.app, op, target, e, now)),
        }
    }

    /// Whom to name at Zoom: `me` for user-managed grants, a user of the account otherwise.
    fn target_for(&self, grant: &Grant, host: Option<&str>) -> Result<UserTarget> {
        let host = host.map(str::trim).filter(|h| !h.is_empty());
        match (grant.app.app_type, host) {
            (AppType::UserManaged, None) => Ok(UserTarget::Me),
            (AppType::UserManaged, Some(h)) if Some(h) == grant.conn.zoom_user_id.as_deref() || Some(h) == grant.conn.zoom_email.as_deref() || h == "me" => {
                Ok(UserTarget::Me)
            }
            (AppType::UserManaged, Some(_)) => Err(Error::ZoomRejected(Box::new(crate::error::ZoomProblem {
                zoom_code: None,
                zoom_message: "not sent: a user-managed grant cannot name another user".into(),
                required_scopes: vec!["meeting:write:admin".into(), "meeting:write:meeting:admin".into()],
                granted_scopes: grant.conn.scopes.split_whitespace().map(str::to_owned).collect(),
                fix: "This connection is a user-managed Zoom app: it creates meetings only for the Zoom user who connected it (/users/me). \
                      Leave out `host`, or use an admin-managed app (scope meeting:write:admin) connected by an account admin to create meetings for other users of the account."
                    .into(),
            }))),
            (_, Some(h)) => Ok(UserTarget::User(h.to_owned())),
            (_, None) => Ok(UserTarget::User(grant.conn.zoom_user_id.clone().unwrap_or_else(|| "me".into()))),
        }
    }

    /// A usable grant for a host-app user, or the error that says why not (with a fresh
    /// connect link when the user must reconnect).
    pub(crate) async fn grant_for_user(&self, ctx: &Ctx, external_id: &str) -> Result<Grant> {
        let found = self.connection_of(ctx, external_id).await;
        let (conn, app) = match found {
            Ok(found) => found,
            Err(Error::NotConnected { .. }) => {
                return Err(Error::NotConnected {
                    connect_url: self.reconnect_url(ctx, external_id).await,
                });
            }
            Err(e) => return Err(e),
        };
        match self.grant_with_app(conn, app, ctx.now).await {
            Err(Error::NeedsReauth { state, reason, .. }) => Err(Error::NeedsReauth {
                state,
                reason,
                connect_url: self.reconnect_url(ctx, external_id).await,
            }),
            other => other,
        }
    }

    /// Creates a meeting at Zoom for the user and records it. With an idempotency key, the same
    /// key never yields two Zoom meetings: a replay answers the stored response, and a create
    /// whose answer was lost is reconciled against Zoom's list instead of retried blindly. Runs
    /// to completion even if the caller goes away (see [`Services::to_completion`]).
    #[tracing::instrument(skip_all, fields(tenant = %ctx.tenant()))]
    pub async fn create_meeting(
        &self,
        ctx: &Ctx,
        external_id: &str,
        input: &CreateMeeting,
        idempotency_key: Option<&str>,
    ) -> Result<MeetingCreated> {
        let (this, ctx, external_id, input) = (
            self.clone(),
            ctx.clone(),
            external_id.to_owned(),
            input.clone(),
        );
        let key = idempotency_key.map(str::to_owned);
        self.to_completion(Box::pin(async move {
            this.create_meeting_attached(&ctx, &external_id, &input, key.as_deref())
                .await
        }))
        .await
    }

    async fn create_meeting_attached(
        &self,
        ctx: &Ctx,
        external_id: &str,
        input: &CreateMeeting,
        idempotency_key: Option<&str>,
    ) -> Result<MeetingCreated> {
        let settings = self.tenant_settings(ctx).await?;
        let validated = validate_create(input, &settings, ctx.now)?;
        if let Some(k) = idempotency_key {
            super::idempotent::check_key(k)?;
        }
        let key = idempotency_key.map(str::to_owned);
        let Some(key) = key else {
            let plan = self
                .plan_create(ctx, external_id, input, &validated)
                .await?;
            return self
                .create_meeting_claimed(ctx, external_id, input, validated, plan, None)
                .await;
        };
        // The connection is looked up before the claim, so that the claim itself carries the note
        // of what this attempt is about to ask Zoom: a lost answer can then be reconciled, and
        // no separate write is needed. A lookup that fails still claims, to replay a completed key.
        let plan = self.plan_create(ctx, external_id, input, &validated).await;
        let note = match &plan {
            Ok(plan) => Some(serde_json::to_value(&plan.recovery).map_err(Error::internal)?),
            Err(_) => None,
        };
        let claim = self.new_claim(ctx, &key, &(external_id, input), note)?;
        let held = HeldKey::of(&claim);
        let (record_id, recovered) = match self.store.claim_idempotency_key(&claim).await? {
            IdempotencyClaim::Claimed(record) => (record.id, None),
            IdempotencyClaim::InProgress => return Err(Error::IdempotencyInProgress),
            IdempotencyClaim::Mismatch => return Err(Error::IdempotencyMismatch),
            IdempotencyClaim::Completed(record) => {
                metrics::counter!("meetgate_idempotent_replays_total").increment(1);
                return self.replay(ctx, &record);
            }
            IdempotencyClaim::Recovered(record) => {
                let prior = record.recovery.and_then(|r| serde_json::from_value(r).ok());
                (record.id, Some(prior))
            }
        };
        let result = match plan {
            Ok(plan) => {
                let claimed = Claimed {
                    held: held.clone(),
                    record_id,
                    recovered,
                    last_call_before: self.last_call_before(claim.now),
                };
                self.create_meeting_claimed(ctx, external_id, input, validated, plan, Some(claimed))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result
            && !matches!(e, Error::ZoomOutcomeUnknown { .. })
        {
            // Nothing was created: let the client retry with the same key.
            let _ = self.store.release_idempotency_key(&held).await;
        }
        result
    }

    /// Which grant and Zoom user a create goes to, and the note that lets a lost answer be found.
    async fn plan_create(
        &self,
        ctx: &Ctx,
        external_id: &str,
        input: &CreateMeeting,
        validated: &Validated,
    ) -> Result<CreatePlan> {
        let grant = self.grant_for_user(ctx, external_id).await?;
        let target = self.target_for(&grant, input.host.as_deref())?;
        let recovery = CreateRecovery {
            started_at: ctx.now.unix_timestamp(),
            zoom_type: validated.request.meeting_type.map(u8::from).unwrap_or(2),
            topic_fingerprint: topic_fingerprint(validated.request.topic.as_deref()),
            start_time: validated.request.start_time.clone(),
            target: match &target {
                UserTarget::Me => "me".into(),
                UserTarget::User(u) => u.clone(),
            },
        };
        Ok(CreatePlan {
            grant,
            target,
            recovery,
        })
    }

    pub(crate) fn replay(
        &self,
        ctx: &Ctx,
        record: &meetgate_store::models::IdempotencyRecord,
    ) -> Result<MeetingCreated> {
        let text = match &record.response_body {
            Some(sealed) => {
                let bytes = self.vault.open(
                    SealedColumn::IdempotencyResponse,
                    Some(ctx.tenant()),
                    &record.id.to_string(),
                    sealed,
                )?;
                String::from_utf8(bytes).map_err(Error::internal)?
            }
            None => "null".to_owned(),
        };
        let body = RawValue::from_string(text).map_err(Error::internal)?;
        Ok(MeetingCreated {
            status: record.response_status.unwrap_or(201),
            body,
            replayed: true,
        })
    }

    async fn create_meeting_claimed(
        &self,
        ctx: &Ctx,
        external_id: &str,
        input: &CreateMeeting,
        validated: Validated,
        plan: CreatePlan,
        claimed: Option<Claimed>,
    ) -> Result<MeetingCreated> {
        let CreatePlan {
            mut grant,
            target,
            recovery,
        } = plan;
        // An earlier attempt with this key died after claiming it: adopt its meeting if Zoom
        // has it, rather than creating a second one.
        let prior = claimed.as_ref().and_then(|c| c.recovered.as_ref());
        let adopted = match prior {
            Some(Some(prior)) => {
                let last_call = claimed.as_ref().map(|c| c.last_call_before);
                self.find_created_at_zoom(&mut grant, &target, prior, ctx.now, last_call)
                    .await?
            }
            _ => None,
        };
        let zoom = match adopted {
            Some(found) => found,
            None => {
                // A takeover's record still holds the earlier attempt's note: replace it.
                if let Some(c) = claimed.as_ref().filter(|c| c.recovered.is_some()) {
                    let note = serde_json::to_value(&recovery).map_err(Error::internal)?;
                    self.store
                        .note_idempotency_progress(&c.held, &note, ctx.now)
                        .await?;
                }
                self.send_create(
                    ctx,
                    &mut grant,
                    &target,
                    &validated,
                    claimed.as_ref().map(|c| c.last_call_before),
                    &recovery,
                )
                .await?
            }
        };
        let claim = claimed.as_ref().map(|c| (&c.held, c.record_id));
        let recorded = self
            .record_created(ctx, external_id, input, &validated, &grant, &zoom, claim)
            .await;
        match recorded {
            Err(e) => Err(self.unrecorded(ctx, &mut grant, zoom.id, e).await),
            done => done,
        }
    }

    /// Zoom created the meeting but meetgate could not record it (the database failed, or a
    /// retry took the key over meanwhile). Undo it at Zoom, so that the error leaves nothing
    /// behind and a retry creates one meeting; if Zoom cannot undo it either, the meeting may
    /// exist, and the key stays claimed so that a retry adopts it instead of making another.
    async fn unrecorded(&self, ctx: &Ctx, grant: &mut Grant, zoom_id: i64, error: Error) -> Error {
        // A commit whose answer was lost did record it: then a retry replays it, and it stays.
        let recorded = self
            .store
            .find_meetings_by_zoom_id(grant.app.id, zoom_id)
            .await
            .is_ok_and(|found| !found.is_empty());
        if recorded {
            return error;
        }
        if matches!(error, Error::IdempotencyInProgress) {
            // A retry took the key over and may be adopting this very meeting: it owns the
            // outcome. Deleting it here could leave the retry answering with a dead link.
            tracing::warn!(
                zoom_meeting_id = zoom_id,
                "a retry took the key over while Zoom created the meeting; leaving it to the retry"
            );
            return error;
        }
        tracing::warn!(error = %error, zoom_meeting_id = zoom_id, "recording a created meeting failed; deleting it at Zoom");
        match self.delete_at_zoom(grant, zoom_id, None, ctx.now).await {
            Ok(()) => error,
            // The connection ended: there is nothing to adopt it into, and its tokens are gone.
            Err(_) if matches!(error, Error::NeedsReauth { .. }) => error,
            Err(e) => {
                tracing::warn!(error = %e, zoom_meeting_id = zoom_id, "deleting an unrecorded meeting at Zoom failed; a retry with the same key adopts it");
                self.outcome_unknown()
            }
        }
    }

    async fn send_create(
        &self,
        ctx: &Ctx,
        grant: &mut Grant,
        target: &UserTarget,
        validated: &Validated,
        // Some while an idempotency key is held: no call starts after it.
        last_call: Option<OffsetDateTime>,
        recovery: &CreateRecovery,
    ) -> Result<ZoomMeeting> {
        let sent = self
            .create_at_zoom(grant, target, &validated.request, ctx.now, last_call)
            .await;
        match sent {
            Err(Error::ZoomUnavailable(reason))
                if last_call.is_some() && recovery.zoom_type == INSTANT =>
            {
                // Zoom's list leaves instant meetings out, so a lost answer cannot be looked
                // up. An instant meeting whose link nobody received is never started: make
                // another rather than keep the caller waiting for the claim to go stale.
                tracing::warn!(%reason, "instant meeting create outcome unknown; creating another");
                match self
                    .create_at_zoom(grant, target, &validated.request, ctx.now, last_call)
                    .await
                {
                    Err(Error::ZoomUnavailable(_)) => Err(self.outcome_unknown()),
                    other => other,
                }
            }
            Err(Error::ZoomUnavailable(reason)) if last_call.is_some() => {
                // Zoom's create is not idempotent and a lost answer means "unknown", not
                // "failed". Look once; if the meeting is not there (yet), leave the key in
                // progress so that a retry reconciles it once the claim goes stale.
                tracing::warn!(%reason, "meeting create outcome unknown; reconciling");
                match self
                    .find_created_at_zoom(grant, target, recovery, ctx.now, last_call)
                    .await
                {
                    Ok(Some(found)) => Ok(found),
                    _ => Err(self.outcome_unknown()),
                }
            }
            other => other,
        }
    }

    async fn create_at_zoom(
        &self,
        grant: &mut Grant,
        target: &UserTarget,
        request: &MeetingRequest,
        now: OffsetDateTime,
        last_call: Option<OffsetDateTime>,
    ) -> Result<ZoomMeeting> {
        self.call_zoom_until(
            grant,
            Operation::CreateMeeting,
            target,
            now,
            last_call,
            |api, token| {
                let target = target.clone();
                async move { api.create_meeting(&token, &target, request).await }
            },
        )
        .await
    }

    /// Looks for a meeting Zoom created for an interrupted request: same type, topic and start
    /// time, created since the request began, and not already recorded by meetgate. Never finds
    /// an instant meeting: Zoom does not list them. "Outcome unknown" when the key's holder runs
    /// out of time to look (`last_call`).
    async fn find_created_at_zoom(
        &self,
        grant: &mut Grant,
        target: &UserTarget,
        prior: &CreateRecovery,
        now: OffsetDateTime,
        last_call: Option<OffsetDateTime>,
    ) -> Result<Option<ZoomMeeting>> {
        if prior.zoom_type == INSTANT {
            return Ok(None);
        }
        for list_type in ["live", "upcoming", "scheduled"] {
            // Out of time is not "not there": "outcome unknown" comes back, never `None`.
            let page = self
                .call_zoom_until(
                    grant,
                    Operation::ListMeetings,
                    target,
                    now,
                    last_call,
                    |api, token| {
                        let target = target.clone();
                        async move {
                            api.list_meetings(&token, &target, list_type, 300, None)
                                .await
                        }
                    },
                )
                .await?;
            for m in page.meetings {
                let same_type = m.meeting_type == Some(prior.zoom_type);
                let same_topic = topic_fingerprint(m.topic.as_deref()) == prior.topic_fingerprint;
                let same_start = prior.start_time.is_none() || m.start_time == prior.start_time;
                let recent = m
                    .created_at
                    .as_deref()
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                    .is_none_or(|c| c.unix_timestamp() >= prior.started_at - 5);
                if same_type
                    && same_topic
                    && same_start
                    && recent
                    && self
                        .store
                        .find_meetings_by_zoom_id(grant.app.id, m.id)
                        .await?
                        .is_empty()
                {
                    // The list omits fields (join_url, password): read the meeting itself.
                    let full = self
                        .call_zoom_until(
                            grant,
                            Operation::GetMeeting,
                            target,
                            now,
                            last_call,
                            |api, token| async move { api.get_meeting(&token, m.id, None).await },
                        )
                        .await?;
                    return Ok(Some(full));
                }
            }
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_created(
        &self,
        ctx: &Ctx,
        external_id: &str,
        input: &CreateMeeting,
        validated: &Validated,
        grant: &Grant,
        zoom: &ZoomMeeting,
        claim: Option<(&HeldKey, uuid::Uuid)>,
    ) -> Result<MeetingCreated> {
        let key = claim.map(|c| c.0.key.as_str());
        let id = MeetingId::new();
        let details = details_from(
            zoom,
            input.client_label.clone().filter(|l| !l.trim().is_empty()),
            validated.topic_is_default,
        );
        let sealed = self.seal_details_for(ctx.tenant(), id, &details)?;
        let new = NewMeeting {
            id,
            tenant_id: ctx.tenant(),
            end_user_id: grant.conn.end_user_id,
            connection_id: grant.conn.id,
            zoom_meeting_id: zoom.id,
            host_zoom_user_id: zoom.host_id.clone().or(grant.conn.zoom_user_id.clone()),
            kind: validated.kind,
            // Zoom returns no start time for an instant meeting; it starts when made, and
            // without one its slot would never pass and it would stay upcoming for good.
            start_time: zoom_start(zoom).or(match validated.kind {
                MeetingKind::Instant => Some(ctx.now),
                _ => validated.start_time,
            }),
            duration_minutes: zoom.duration.or(validated.request.duration),
            timezone: zoom.timezone.clone().or(validated.request.timezone.clone()),
            details: sealed,
            idempotency_key: key.map(str::to_owned),
            now: ctx.now,
        };
        // The view needs the stored row's shape; build it from `new` without a re-read.
        let as_row = Meeting {
            id,
            tenant_id: new.tenant_id,
            end_user_id: new.end_user_id,
            connection_id: new.connection_id,
            zoom_meeting_id: new.zoom_meeting_id,
            host_zoom_user_id: new.host_zoom_user_id.clone(),
            kind: new.kind,
            status: meetgate_store::models::MeetingStatus::Waiting,
            start_time: new.start_time,
            duration_minutes: new.duration_minutes,
            timezone: new.timezone.clone(),
            details: new.details.clone(),
            idempotency_key: new.idempotency_key.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
            status_changed_at: None,
            deleted_at: None,
        };
        let view = self.meeting_view_of(&as_row, details, external_id, ctx.now);
        let body = serde_json::value::to_raw_value(&view).map_err(Error::internal)?;
        let completion = match claim {
            Some((held, record_id)) => Some(CompleteIdempotency {
                held: held.clone(),
                response_status: 201,
                response_body: self.vault.seal(
                    SealedColumn::IdempotencyResponse,
                    Some(ctx.tenant()),
                    &record_id.to_string(),
                    body.get().as_bytes(),
                )?,
                resource_id: Some(id.to_string()),
            }),
            None => None,
        };
        let effects = Effects::none()
            .audit(ctx.audit("meeting.created", "meeting", Some(id.to_string()), "success", json!({ "zoom_meeting_id": zoom.id, "type": validated.kind.as_str() })))
            .event(ctx.event("meeting.created", json!({ "meeting_id": id, "user": external_id, "zoom_meeting_id": zoom.id, "type": validated.kind.as_str(), "start_time": view.start_time.and_then(|t| t.format(&Rfc3339).ok()) })))
            .idempotency(completion);
        self.store
            .insert_meeting(&new, effects)
            .await
            .map_err(refused_meeting_write)?;
        metrics::counter!("meetgate_meetings_created_total").increment(1);
        Ok(MeetingCreated {
            status: 201,
            body,
            replayed: false,
        })
    }

    /// Marks a meeting ended that Zoom says has ended, with the `meeting.ended` event its webhook
    /// would have brought. Best effort: the caller's answer is Zoom's, whatever happens here.
    async fn note_ended(&self, ctx: &Ctx, meeting: &Meeting, external: &str) {
        if meeting.status == MeetingStatus::Ended {
            return;
        }
        let effects = Effects::none().event(ctx.event(
            "meeting.ended",
            json!({ "meeting_id": meeting.id, "user": external, "zoom_meeting_id": meeting.zoom_meeting_id }),
        ));
        if let Err(e) = self
            .store
            .set_meeting_status(
                ctx.tenant(),
                meeting.id,
                MeetingStatus::Ended,
                ctx.now,
                effects,
            )
            .await
        {
            tracing::warn!(meeting = %meeting.id, error = %e, "recording that a meeting ended failed");
        }
    }

    async fn owned_meeting(&self, ctx: &Ctx, id: MeetingId) -> Result<(Meeting, String)> {
        let meeting = self
            .store
            .get_meeting(ctx.tenant(), id)
            .await?
            .ok_or(Error::NotFound { what: "meeting" })?;
        let external = self
            .external_id_of(ctx.tenant(), meeting.end_user_id)
            .await
            .unwrap_or_default();
        Ok((meeting, external))
    }

    pub async fn get_meeting(&self, ctx: &Ctx, id: MeetingId) -> Result<MeetingView> {
        let (meeting, external) = self.owned_meeting(ctx, id).await?;
        self.meeting_view(&meeting, &external, ctx.now)
    }

    pub async fn list_meetings(
        &self,
        ctx: &Ctx,
        external_id: Option<&str>,
        window: MeetingWindow,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<MeetingList> {
        let end_user = match external_id {
            Some(e) => match self.store.find_end_user(ctx.tenant(), e).await? {
                Some(u) => Some(u),
                None => {
                    return Ok(MeetingList {
                        data: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
            None => None,
        };
        let after = cursor
            .map(|c| {
                c.parse::<MeetingId>().map_err(|_| {
                    Error::validation("cursor", "is not a cursor from a previous page")
                })
            })
            .transpose()?;
        let limit = limit.clamp(1, 100);
        let query = MeetingQuery {
            end_user_id: end_user.as_ref().map(|u| u.id),
            window,
            include_deleted: false,
            after,
            ids: None,
            limit: limit + 1,
            now: ctx.now,
        };
        let mut rows = self.store.list_meetings(ctx.tenant(), &query).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let mut data = Vec::with_capacity(rows.len());
        for m in &rows {
            let external = match &end_user {
                Some(u) => u.external_id.clone(),
                None => self
                    .external_id_of(ctx.tenant(), m.end_user_id)
                    .await
                    .unwrap_or_default(),
            };
            data.push(self.meeting_view(m, &external, ctx.now)?);
        }
        let next_cursor = if more {
            rows.last().map(|m| m.id.to_string())
        } else {
            None
        };
        Ok(MeetingList { data, next_cursor })
    }

    /// Updates a meeting at Zoom (one occurrence with `occurrence_id`), then re-reads it there
    /// and stores what Zoom now says.
    /// Updates a meeting at Zoom and here; runs to completion even if the caller goes away.
    pub async fn update_meeting(
        &self,
        ctx: &Ctx,
        id: MeetingId,
        patch: &MeetingPatch,
        occurrence_id: Option<&str>,
    ) -> Result<MeetingView> {
        match self
            .update_meeting_keyed(ctx, id, patch, occurrence_id, None)
            .await?
        {
            Keyed::Fresh(view) => Ok(view),
            Keyed::Replayed { .. } => Err(Error::internal("an update without a key was replayed")),
        }
    }

    /// [`Services::update_meeting`] with an `Idempotency-Key`: the same key and request answer
    /// the first answer again.
    pub async fn update_meeting_keyed(
        &self,
        ctx: &Ctx,
        id: MeetingId,
        patch: &MeetingPatch,
        occurrence_id: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<Keyed<MeetingView>> {
        let (this, ctx, patch) = (self.clone(), ctx.clone(), patch.clone());
        let occurrence_id = occurrence_id.map(str::to_owned);
        let key = idempotency_key.map(str::to_owned);
        self.to_completion(Box::pin(async move {
            let request = ("meeting.update", id, &patch, &occurrence_id);
            let (me, ctx, patch) = (&this, &ctx, &patch);
            let occurrence_id = occurrence_id.as_deref();
            this.keyed(ctx, key.as_deref(), &request, |claimed| async move {
                me.update_meeting_attached(ctx, id, patch, occurrence_id, claimed.as_ref())
                    .await
            })
            .await
        }))
        .await
    }

    async fn update_meeting_attached(
        &self,
        ctx: &Ctx,
        id: MeetingId,
        patch: &MeetingPatch,
        occurrence_id: Option<&str>,
        claimed: Option<&ClaimedKey>,
    ) -> Result<MeetingView> {
        let (meeting, external) = self.owned_meeting(ctx, id).await?;
        if meeting.deleted_at.is_some() {
            return Err(Error::NotFound { what: "meeting" });
        }
        check_occurrence(&meeting, occurrence_id)?;
        check_len("topic", &patch.topic, 200)?;
        check_len("client_label", &patch.client_label, 200)?;
        check_len("agenda", &patch.agenda, 2000)?;
        check_password(&patch.password)?;
        check_timezone(&patch.timezone)?;
        check_duration(patch.duration)?;
        let settings = self.tenant_settings(ctx).await?;
        let stored = self.open_details(&meeting)?;
        let start = patch
            .start_time
            .as_deref()
            .map(|t| parse_time("start_time", t))
            .transpose()?;
        // A start sent back unchanged (a form that edits something else) is not a new one.
        if let Some(start) = start.filter(|s| Some(*s) != meeting.start_time) {
            check_not_past(start, ctx.now)?;
        }
        if patch.recurrence.is_some() && meeting.kind != MeetingKind::Recurring {
            return Err(Error::validation(
                "recurrence",
                "only recurring meetings recur",
            ));
        }
        let (meeting_type, recurrence) =
            series_change(&meeting, &stored, patch, start, occurrence_id)?;
        let label_topic = patch.client_label.as_deref().filter(|_| {
            settings.client_label_in_topic && patch.topic.is_none() && stored.topic.is_none()
        });
        let request = MeetingRequest {
            topic: patch.topic.clone().or(label_topic.map(str::to_owned)),
            meeting_type,
            start_time: start.map(zoom_time),
            duration: patch.duration,
            timezone: patch.timezone.clone(),
            password: patch.password.clone(),
            agenda: patch.agenda.clone(),
            recurrence,
            settings: patch
                .settings
                .as_ref()
                .map(|s| settings_json(&settings.meeting_policy, s))
                .transpose()?,
        };
        let conn = self
            .store
            .get_connection(ctx.tenant(), meeting.connection_id)
            .await?
            .ok_or(Error::NotFound { what: "connection" })?;
        let mut grant = self.grant(conn, ctx.now).await?;
        let target = UserTarget::Me;
        let zoom_id = meeting.zoom_meeting_id;
        self.call_zoom(
            &mut grant,
            Operation::UpdateMeeting,
            &target,
            ctx.now,
            |api, token| {
                let request = &request;
                async move {
                    api.update_meeting(&token, zoom_id, occurrence_id, request)
                        .await
                }
            },
        )
        .await?;
        let mut changed: Vec<&str> = Vec::new();
        for (name, present) in [
            ("topic", patch.topic.is_some()),
            ("client_label", patch.client_label.is_some()),
            ("start_time", patch.start_time.is_some()),
            ("duration", patch.duration.is_some()),
            ("timezone", patch.timezone.is_some()),
            ("agenda", patch.agenda.is_some()),
            ("password", patch.password.is_some()),
            ("recurrence", patch.recurrence.is_some()),
            ("settings", patch.settings.is_some()),
        ] {
            if present {
                changed.push(name);
            }
        }
        let mut meeting = meeting;
        let mut retries = 0;
        loop {
            let read_back = self
                .call_zoom(
                    &mut grant,
                    Operation::GetMeeting,
                    &target,
                    ctx.now,
                    |api, token| async move { api.get_meeting(&token, zoom_id, None).await },
                )
                .await;
            let fresh = match read_back {
                Ok(fresh) => Some(fresh),
                // Zoom has made the change; only reading it back failed. Answering an error
                // would leave meetgate's copy as it was (and drop the client label, which only
                // meetgate holds), so the copy takes what was sent instead. Not for one
                // occurrence, nor for a new passcode: Zoom then changes what only it knows (the
                // occurrence's times, the join URL's encoded passcode).
                Err(
                    e @ (Error::ZoomUnavailable(_)
                    | Error::ZoomRateLimited { .. }
                    | Error::RefreshPending { .. }),
                ) if occurrence_id.is_none() && patch.password.is_none() => {
                    tracing::warn!(meeting = %id, error = %e, "reading an updated meeting back from Zoom failed; storing what was sent");
                    None
                }
                Err(e) => return Err(e),
            };
            let mut details = self.open_details(&meeting)?;
            if patch.client_label.is_some() {
                details.client_label = patch.client_label.clone().filter(|l| !l.trim().is_empty());
            }
            // Start, duration and time zone as Zoom now has them: read back, or as sent.
            let (start_time, duration, timezone) = match &fresh {
                Some(fresh) => {
                    if patch.topic.is_some() {
                        details.topic = fresh.topic.clone();
                    }
                    details.agenda = fresh.agenda.clone();
                    details.join_url = fresh.join_url.clone();
                    details.password = fresh.password.clone();
                    details.settings = fresh.settings.clone();
                    details.recurrence = fresh.recurrence.clone();
                    details.occurrences = fresh
                        .occurrences
                        .as_ref()
                        .and_then(|o| serde_json::to_value(o).ok());
                    (zoom_start(fresh), fresh.duration, fresh.timezone.clone())
                }
                None => {
                    apply_sent(&mut details, patch, &request)?;
                    (start, patch.duration, patch.timezone.clone())
                }
            };
            let update = MeetingUpdate {
                start_time: start_time.or(meeting.start_time),
                duration_minutes: duration.or(meeting.duration_minutes),
                timezone: timezone.or(meeting.timezone.clone()),
                details: self.seal_details(&meeting, &details)?,
                replaces: meeting.details.clone(),
                now: ctx.now,
            };
            // The answer is built before the write, so that a key's stored answer is written
            // with it.
            let as_row = Meeting {
                start_time: update.start_time,
                duration_minutes: update.duration_minutes,
                timezone: update.timezone.clone(),
                details: update.details.clone(),
                updated_at: ctx.now,
                ..meeting.clone()
            };
            let view = self.meeting_view(&as_row, &external, ctx.now)?;
            let body = serde_json::to_value(&view).map_err(Error::internal)?;
            let mut audited = json!({ "fields": changed, "occurrence_id": occurrence_id });
            if fresh.is_none() {
                audited["zoom_read_back"] = json!("failed");
            }
            let effects = Effects::none()
                .audit(ctx.audit("meeting.updated", "meeting", Some(id.to_string()), "success", audited))
                .event(ctx.event("meeting.updated", json!({ "meeting_id": id, "user": external, "zoom_meeting_id": zoom_id, "fields": changed, "occurrence_id": occurrence_id })))
                .idempotency(self.complete_key(ctx, claimed, 200, &body, id.to_string())?);
            match self
                .store
                .update_meeting(ctx.tenant(), id, &update, effects)
                .await
            {
                // Another update of this meeting was written while Zoom worked. Writing ours
                // over it would lose its meetgate-only fields (the client label), so ours is
                // rebuilt on that row, with Zoom's state read again now that both are at Zoom.
                Err(meetgate_store::StoreError::VersionConflict { .. }) if retries < 3 => {
                    retries += 1;
                    meeting = self.owned_meeting(ctx, id).await?.0;
                    if meeting.deleted_at.is_some() {
                        return Err(Error::NotFound { what: "meeting" });
                    }
                }
                Err(meetgate_store::StoreError::VersionConflict { .. }) => {
                    return Err(Error::Conflict(
                        "the meeting was changed at Zoom, but other updates of it kept landing at the same time and meetgate's copy was not updated; send this update again".into(),
                    ));
                }
                written => {
                    written
                        .map_err(refused_meeting_write)?
                        .ok_or(Error::NotFound { what: "meeting" })?;
                    return Ok(view);
                }
            }
        }
    }

    /// Deletes the meeting at Zoom (or one occurrence) and marks it deleted here. A meeting Zoom
    /// no longer has is deleted here too. Runs to completion even if the caller goes away.
    pub async fn delete_meeting(
        &self,
        ctx: &Ctx,
        id: MeetingId,
        occurrence_id: Option<&str>,
    ) -> Result<()> {
        self.delete_meeting_keyed(ctx, id, occurrence_id, None)
            .await
            .map(|_| ())
    }

    /// [`Services::delete_meeting`] with an `Idempotency-Key`.
    pub async fn delete_meeting_keyed(
        &self,
        ctx: &Ctx,
        id: MeetingId,
        occurrence_id: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<Keyed<()>> {
        let (this, ctx) = (self.clone(), ctx.clone());
        let occurrence_id = occurrence_id.map(str::to_owned);
        let key = idempotency_key.map(str::to_owned);
        self.to_completion(Box::pin(async move {
            let request = ("meeting.delete", id, &occurrence_id);
            let (me, ctx) = (&this, &ctx);
            let occurrence_id = occurrence_id.as_deref();
            this.keyed(ctx, key.as_deref(), &request, |claimed| async move {
                me.delete_meeting_attached(ctx, id, occurrence_id, claimed.as_ref())
                    .await
            })
            .await
        }))
        .await
    }

    async fn delete_meeting_attached(
        &self,
        ctx: &Ctx,
        id: MeetingId,
        occurrence_id: Option<&str>,
        claimed: Option<&ClaimedKey>,
    ) -> Result<()> {
        let (meeting, external) = self.owned_meeting(ctx, id).await?;
        if meeting.deleted_at.is_some() {
            return Err(Error::NotFound { what: "meeting" });
        }
        check_occurrence(&meeting, occurrence_id)?;
        let conn = self
            .store
            .get_connection(ctx.tenant(), meeting.connection_id)
            .await?
            .ok_or(Error::NotFound { what: "connection" })?;
        let mut grant = self.grant(conn, ctx.now).await?;
        let zoom_id = meeting.zoom_meeting_id;
        match self
            .delete_at_zoom(&mut grant, zoom_id, occurrence_id, ctx.now)
            .await
        {
            Ok(()) => {}
            // Deleting what is already gone is done: an occurrence this meeting had, which Zoom
            // no longer knows, was deleted, by an attempt whose answer was lost (a retry with
            // the same key lands here) or in Zoom itself.
            // Zoom's 3000 also refuses a meeting this grant may not act on (another account's,
            // after a reconnect as another Zoom user): only its occurrence message counts.
            Err(Error::ZoomRejected(z))
                if z.zoom_code == Some(3000)
                    && z.zoom_message.to_ascii_lowercase().contains("occurrence")
                    && occurrence_id.is_some_and(|o| self.had_occurrence(&meeting, o)) => {}
            // Zoom keeps an ended meeting and refuses to delete it: it has ended, whether or not
            // Zoom's meeting.ended webhook reached meetgate, and its history says so from now on.
            Err(Error::ZoomRejected(z)) if z.zoom_code == Some(3007) && occurrence_id.is_none() => {
                self.note_ended(ctx, &meeting, &external).await;
                return Err(Error::ZoomRejected(z));
            }
            Err(e) => return Err(e),
        }
        let effects = Effects::none()
            .audit(ctx.audit("meeting.deleted", "meeting", Some(id.to_string()), "success", json!({ "zoom_meeting_id": zoom_id, "occurrence_id": occurrence_id })))
            .event(ctx.event("meeting.deleted", json!({ "meeting_id": id, "user": external, "zoom_meeting_id": zoom_id, "occurrence_id": occurrence_id })))
            .idempotency(self.complete_key(ctx, claimed, 204, &Value::Null, id.to_string())?);
        if occurrence_id.is_some() {
            // One occurrence: the meeting stays; remember the change.
            self.store.append_audit(effects).await?;
        } else {
            self.store
                .mark_meeting_deleted(ctx.tenant(), id, ctx.now, effects)
                .await?;
        }
        Ok(())
    }

    /// Deletes a meeting (or one occurrence) at Zoom; one Zoom no longer has counts as deleted.
    async fn delete_at_zoom(
        &self,
        grant: &mut Grant,
        zoom_id: i64,
        occurrence_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let sent = self
            .call_zoom(grant, Operation::DeleteMeeting, &UserTarget::Me, now, |api, token| async move {
                api.delete_meeting(&token, zoom_id, occurrence_id).await
            })
            .await;
        match sent {
            Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether Zoom listed `occurrence_id` among the meeting's occurrences when meetgate last
    /// stored them.
    fn had_occurrence(&self, meeting: &Meeting, occurrence_id: &str) -> bool {
        self.open_details(meeting)
            .ok()
            .and_then(|d| d.occurrences)
            .is_some_and(|o| {
                o.as_array().is_some_and(|all| {
                    all.iter()
                        .any(|o| o["occurrence_id"].as_str() == Some(occurrence_id))
                })
            })
    }

    /// A start URL fetched from Zoom now (Zoom's expire after 2 hours, so none is stored).
    pub async fn fresh_start_url(&self, ctx: &Ctx, id: MeetingId) -> Result<String> {
        let (meeting, conn) = self
            .store
            .get_meeting_with_connection(ctx.tenant(), id)
            .await?
            .ok_or(Error::NotFound { what: "meeting" })?;
        if meeting.deleted_at.is_some() {
            return Err(Error::NotFound { what: "meeting" });
        }
        let conn = conn.ok_or(Error::NotFound { what: "connection" })?;
        let mut grant = self.grant(conn, ctx.now).await?;
        let zoom_id = meeting.zoom_meeting_id;
        let start_url = self
            .call_zoom(
                &mut grant,
                Operation::GetMeeting,
                &UserTarget::Me,
                ctx.now,
                |api, token| async move { api.get_start_url(&token, zoom_id).await },
            )
            .await?;
        start_url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| Error::ZoomUnavailable("Zoom returned no start URL".into()))
    }

    /// The context a verified start link grants: the meeting's tenant, acting as the link.
    pub fn start_link_ctx(
        &self,
        claims: &super::StartLinkClaims,
        request_id: Option<String>,
        now: OffsetDateTime,
    ) -> Ctx {
        let mut ctx = Ctx::system(claims.tenant, super::ActorKind::System, now);
        ctx.request_id = request_id;
        ctx
    }
}
