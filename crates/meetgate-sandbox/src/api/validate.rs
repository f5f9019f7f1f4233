//! Validation of meeting request bodies, reported Zoom-style as code 300 with `errors`.

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::recurrence::{DAILY, MAX_OCCURRENCES, MONTHLY, Recurrence, WEEKLY};
use crate::timefmt::{self, StartTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
    /// PATCH with `occurrence_id`: only some fields may change for one occurrence.
    UpdateOccurrence,
}

/// A meeting body after validation; absent fields are `None`.
#[derive(Clone, Debug, Default)]
pub struct MeetingInput {
    pub topic: Option<String>,
    pub meeting_type: Option<u8>,
    pub start_time: Option<StartTime>,
    pub duration: Option<i64>,
    pub timezone: Option<String>,
    pub password: Option<String>,
    pub default_password: Option<bool>,
    pub agenda: Option<String>,
    pub pre_schedule: Option<bool>,
    pub schedule_for: Option<String>,
    pub template_id: Option<String>,
    pub recurrence: Option<Recurrence>,
    pub settings: Map<String, Value>,
    pub tracking_fields: Option<Vec<Value>>,
}

enum Kind {
    Bool,
    IntEnum(&'static [i64]),
    StrEnum(&'static [&'static str]),
    Str,
    Object,
    Array,
}

const SETTINGS: &[(&str, Kind)] = &[
    ("host_video", Kind::Bool),
    ("participant_video", Kind::Bool),
    ("cn_meeting", Kind::Bool),
    ("in_meeting", Kind::Bool),
    ("join_before_host", Kind::Bool),
    ("jbh_time", Kind::IntEnum(&[0, 5, 10])),
    ("mute_upon_entry", Kind::Bool),
    ("watermark", Kind::Bool),
    ("use_pmi", Kind::Bool),
    ("approval_type", Kind::IntEnum(&[0, 1, 2])),
    ("registration_type", Kind::IntEnum(&[1, 2, 3])),
    ("audio", Kind::StrEnum(&["both", "telephony", "voip"])),
    ("auto_recording", Kind::StrEnum(&["local", "cloud", "none"])),
    ("enforce_login", Kind::Bool),
    ("enforce_login_domains", Kind::Str),
    ("alternative_hosts", Kind::Str),
    ("alternative_hosts_email_notification", Kind::Bool),
    ("alternative_host_update_polls", Kind::Bool),
    ("close_registration", Kind::Bool),
    ("show_share_button", Kind::Bool),
    ("allow_multiple_devices", Kind::Bool),
    ("registrants_confirmation_email", Kind::Bool),
    ("waiting_room", Kind::Bool),
    ("registrants_email_notification", Kind::Bool),
    ("meeting_authentication", Kind::Bool),
    ("authentication_option", Kind::Str),
    ("authentication_domains", Kind::Str),
    ("authentication_name", Kind::Str),
    (
        "encryption_type",
        Kind::StrEnum(&["enhanced_encryption", "e2ee"]),
    ),
    ("approved_or_denied_countries_or_regions", Kind::Object),
    ("breakout_room", Kind::Object),
    ("language_interpretation", Kind::Object),
    ("global_dial_in_countries", Kind::Array),
    ("contact_name", Kind::Str),
    ("contact_email", Kind::Str),
    ("email_notification", Kind::Bool),
    ("calendar_type", Kind::IntEnum(&[1, 2])),
    ("focus_mode", Kind::Bool),
    ("private_meeting", Kind::Bool),
    ("host_save_video_order", Kind::Bool),
    ("meeting_invitees", Kind::Array),
    ("additional_data_center_regions", Kind::Array),
];

/// Settings Zoom lets a single occurrence change.
const OCCURRENCE_SETTINGS: &[&str] = &[
    "host_video",
    "participant_video",
    "join_before_host",
    "mute_upon_entry",
    "waiting_room",
    "watermark",
    "auto_recording",
];
const OCCURRENCE_FIELDS: &[&str] = &["agenda", "start_time", "duration", "settings"];

pub fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        _ => Err(ApiError::bad_request(
            300,
            "Request Body should be a valid JSON object.",
        )),
    }
}

pub fn meeting(body: &Map<String, Value>, mode: Mode) -> Result<MeetingInput, ApiError> {
    let mut errs = Vec::new();
    let mut input = MeetingInput::default();
    if mode == Mode::UpdateOccurrence {
        for key in body.keys() {
            if !OCCURRENCE_FIELDS.contains(&key.as_str()) {
                errs.push(FieldError::new(
                    key.clone(),
                    "This field cannot be updated for a single occurrence.",
                ));
            }
        }
    }
    input.topic = string(body, "topic", Some(200), &mut errs);
    if let Some(v) = body.get("type") {
        match v.as_i64() {
            Some(t @ (1 | 2 | 3 | 8)) => input.meeting_type = u8::try_from(t).ok(),
            _ => errs.push(FieldError::new("type", "Invalid field.")),
        }
    }
    if let Some(s) = string(body, "start_time", None, &mut errs) {
        match timefmt::parse_start(&s) {
            Some(t) => input.start_time = Some(t),
            None => errs.push(FieldError::new(
                "start_time",
                "Invalid field. Use yyyy-MM-ddTHH:mm:ssZ, or yyyy-MM-ddTHH:mm:ss with timezone.",
            )),
        }
    }
    if let Some(v) = body.get("duration") {
        match v.as_i64() {
            Some(d) if (0..=1440 * 365).contains(&d) => input.duration = Some(d),
            _ => errs.push(FieldError::new("duration", "Invalid field.")),
        }
    }
    if let Some(tz) = string(body, "timezone", None, &mut errs) {
        if tz.is_empty() || jiff::tz::TimeZone::get(&tz).is_err() {
            errs.push(FieldError::new("timezone", "Invalid timezone."));
        } else {
            input.timezone = Some(tz);
        }
    }
    if let Some(pw) = string(body, "password", Some(10), &mut errs) {
        if pw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@-_*".contains(c))
        {
            input.password = Some(pw);
        } else {
            errs.push(FieldError::new(
                "password",
                "Password can only contain the following characters: [a-z A-Z 0-9 @ - _ *].",
            ));
        }
    }
    input.default_password = boolean(body, "default_password", &mut errs);
    input.agenda = string(body, "agenda", Some(2000), &mut errs);
    input.pre_schedule = boolean(body, "pre_schedule", &mut errs);
    input.schedule_for = string(body, "schedule_for", None, &mut errs);
    input.template_id = string(body, "template_id", None, &mut errs);
    if let Some(v) = body.get("recurrence") {
        match v {
            Value::Object(r) => input.recurrence = recurrence(r, &mut errs),
            _ => errs.push(FieldError::new("recurrence", "Invalid field.")),
        }
    }
    if let Some(v) = body.get("settings") {
        match v {
            Value::Object(s) => input.settings = settings(s, mode, &mut errs),
            _ => errs.push(FieldError::new("settings", "Invalid field.")),
        }
    }
    if let Some(v) = body.get("tracking_fields") {
        match v.as_array() {
            Some(items) if items.iter().all(tracking_field_ok) => {
                input.tracking_fields = Some(items.clone());
            }
            _ => errs.push(FieldError::new("tracking_fields", "Invalid field.")),
        }
    }
    if errs.is_empty() {
        Ok(input)
    } else {
        Err(ApiError::validation(errs))
    }
}

fn tracking_field_ok(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    o.get("field").is_some_and(Value::is_string) && o.get("value").is_none_or(Value::is_string)
}

fn string(
    body: &Map<String, Value>,
    key: &str,
    max: Option<usize>,
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    let v = body.get(key)?;
    match v.as_str() {
        Some(s) if max.is_none_or(|m| s.chars().count() <= m) => Some(s.to_owned()),
        Some(_) => {
            let max = max.unwrap_or_default();
            errs.push(FieldError::new(
                key,
                format!("Length must be at most {max} characters."),
            ));
            None
        }
        None => {
            errs.push(FieldError::new(key, "Invalid field."));
            None
        }
    }
}

fn boolean(body: &Map<String, Value>, key: &str, errs: &mut Vec<FieldError>) -> Option<bool> {
    let v = body.get(key)?;
    if v.is_boolean() {
        v.as_bool()
    } else {
        errs.push(FieldError::new(key, "Invalid field."));
        None
    }
}

fn int_in(
    r: &Map<String, Value>,
    key: &str,
    ok: impl Fn(i64) -> bool,
    errs: &mut Vec<FieldError>,
) -> Option<i64> {
    let v = r.get(key)?;
    match v.as_i64() {
        Some(n) if ok(n) => Some(n),
        _ => {
            errs.push(FieldError::new(
                format!("recurrence.{key}"),
                "Invalid field.",
            ));
            None
        }
    }
}

fn recurrence(r: &Map<String, Value>, errs: &mut Vec<FieldError>) -> Option<Recurrence> {
    let before = errs.len();
    let kind = match r.get("type").and_then(Value::as_i64) {
        Some(k @ 1..=3) => u8::try_from(k).ok(),
        _ => {
            errs.push(FieldError::new("recurrence.type", "Invalid field."));
            None
        }
    };
    // Zoom's ceilings: every 90 days, 12 weeks or 3 months at most.
    let max_interval = match kind {
        Some(DAILY) => 90,
        Some(WEEKLY) => 12,
        Some(MONTHLY) => 3,
        _ => 90,
    };
    let repeat_interval = int_in(
        r,
        "repeat_interval",
        |n| (1..=max_interval).contains(&n),
        errs,
    );
    let weekly_days = match r.get("weekly_days") {
        None => None,
        Some(Value::String(s)) => {
            let days: Vec<Option<u8>> = s.split(',').map(|d| d.trim().parse().ok()).collect();
            if days.iter().all(|d| matches!(d, Some(1..=7))) {
                Some(s.replace(' ', ""))
            } else {
                errs.push(FieldError::new("recurrence.weekly_days", "Invalid field."));
                None
            }
        }
        Some(_) => {
            errs.push(FieldError::new("recurrence.weekly_days", "Invalid field."));
            None
        }
    };
    let monthly_day = int_in(r, "monthly_day", |n| (1..=31).contains(&n), errs);
    let monthly_week = int_in(r, "monthly_week", |n| [-1, 1, 2, 3, 4].contains(&n), errs);
    let monthly_week_day = int_in(r, "monthly_week_day", |n| (1..=7).contains(&n), errs);
    if monthly_week.is_some() != monthly_week_day.is_some() {
        errs.push(FieldError::new(
            "recurrence.monthly_week",
            "monthly_week and monthly_week_day must be used together.",
        ));
    }
    let end_times = int_in(r, "end_times", |n| (1..=MAX_OCCURRENCES).contains(&n), errs);
    let end_date_time = match r.get("end_date_time") {
        None => None,
        Some(v) => match v.as_str().and_then(timefmt::parse_utc) {
            Some(t) => Some(t),
            None => {
                errs.push(FieldError::new(
                    "recurrence.end_date_time",
                    "Invalid field.",
                ));
                None
            }
        },
    };
    if end_times.is_some() && end_date_time.is_some() {
        errs.push(FieldError::new(
            "recurrence.end_times",
            "end_times cannot be used together with end_date_time.",
        ));
    }
    if errs.len() > before {
        return None;
    }
    Some(Recurrence {
        kind: kind?,
        repeat_interval: repeat_interval.unwrap_or(1),
        weekly_days: if kind == Some(WEEKLY) {
            Some(weekly_days.unwrap_or_else(|| "1".to_owned()))
        } else {
            None
        },
        monthly_day: if kind == Some(MONTHLY) && monthly_week.is_none() {
            Some(monthly_day.unwrap_or(1))
        } else {
            None
        },
        monthly_week: monthly_week.filter(|_| kind == Some(MONTHLY)),
        monthly_week_day: monthly_week_day.filter(|_| kind == Some(MONTHLY)),
        end_times: if end_date_time.is_none() {
            Some(end_times.unwrap_or(1))
        } else {
            None
        },
        end_date_time,
    })
}

fn settings(s: &Map<String, Value>, mode: Mode, errs: &mut Vec<FieldError>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in s {
        let Some((_, kind)) = SETTINGS.iter().find(|(k, _)| k == key) else {
            // Zoom ignores settings it does not know; so does the sandbox (not echoed).
            continue;
        };
        if mode == Mode::UpdateOccurrence && !OCCURRENCE_SETTINGS.contains(&key.as_str()) {
            errs.push(FieldError::new(
                format!("settings.{key}"),
                "This setting cannot be updated for a single occurrence.",
            ));
            continue;
        }
        let ok = match kind {
            Kind::Bool => value.is_boolean(),
            Kind::IntEnum(allowed) => value.as_i64().is_some_and(|n| allowed.contains(&n)),
            Kind::StrEnum(allowed) => value.as_str().is_some_and(|v| allowed.contains(&v)),
            Kind::Str => value.is_string(),
            Kind::Object => value.is_object(),
            Kind::Array => value.is_array(),
        };
        if ok {
            out.insert(key.clone(), value.clone());
        } else {
            errs.push(FieldError::new(format!("settings.{key}"), "Invalid field."));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value, mode: Mode) -> Result<MeetingInput, ApiError> {
        meeting(v.as_object().expect("object"), mode)
    }

    #[test]
    fn reports_every_bad_field() {
        let err = check(
            json!({"topic": 5, "type": 4, "password": "bad pass!", "settings": {"jbh_time": 7}}),
            Mode::Create,
        )
        .expect_err("invalid");
        assert_eq!(err.code, 300);
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["topic", "type", "password", "settings.jbh_time"]
        );
    }

    #[test]
    fn occurrence_updates_are_limited() {
        let err = check(
            json!({"topic": "x", "duration": 30}),
            Mode::UpdateOccurrence,
        )
        .expect_err("topic not allowed");
        assert_eq!(err.errors[0].field, "topic");
        assert!(check(json!({"duration": 30}), Mode::UpdateOccurrence).is_ok());
    }

    #[test]
    fn recurrence_defaults() {
        let ok = check(json!({"type": 8, "recurrence": {"type": 2}}), Mode::Create).expect("ok");
        let r = ok.recurrence.expect("recurrence");
        assert_eq!(r.weekly_days.as_deref(), Some("1"));
        assert_eq!(r.end_times, Some(1));
    }
}
