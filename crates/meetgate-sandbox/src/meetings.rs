//! Meetings as Zoom stores and renders them.

use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::api::error::{ApiError, FieldError};
use crate::api::validate::MeetingInput;
use crate::ids;
use crate::recurrence::{self, Recurrence};
use crate::timefmt::{self, StartTime};
use crate::world::User;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Waiting,
    Started,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Started => "started",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Occurrence {
    pub occurrence_id: String,
    pub start_time: OffsetDateTime,
    pub duration: i64,
    pub deleted: bool,
    pub agenda: Option<String>,
    pub settings: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Participant {
    pub id: String,
    pub user_name: String,
    pub email: String,
    pub join_time: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub struct Meeting {
    pub id: i64,
    pub uuid: String,
    pub host_id: String,
    pub host_email: String,
    pub account_id: String,
    pub topic: String,
    pub meeting_type: u8,
    pub start_time: Option<OffsetDateTime>,
    pub duration: i64,
    pub timezone: String,
    pub agenda: String,
    pub password: String,
    pub h323_password: String,
    pub encrypted_password: String,
    pub pre_schedule: bool,
    pub settings: Map<String, Value>,
    pub recurrence: Option<Recurrence>,
    pub occurrences: Vec<Occurrence>,
    pub tracking_fields: Vec<Value>,
    pub created_at: OffsetDateTime,
    pub status: Status,
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
    pub participants: Vec<Participant>,
}

const DEFAULT_DURATION: i64 = 60;

fn default_settings() -> Map<String, Value> {
    let v = json!({
        "host_video": false,
        "participant_video": false,
        "cn_meeting": false,
        "in_meeting": false,
        "join_before_host": false,
        "jbh_time": 0,
        "mute_upon_entry": false,
        "watermark": false,
        "use_pmi": false,
        "approval_type": 2,
        "audio": "both",
        "auto_recording": "none",
        "enforce_login": false,
        "enforce_login_domains": "",
        "alternative_hosts": "",
        "alternative_hosts_email_notification": true,
        "alternative_host_update_polls": false,
        "close_registration": false,
        "show_share_button": false,
        "allow_multiple_devices": false,
        "registrants_confirmation_email": true,
        "waiting_room": false,
        "registrants_email_notification": true,
        "meeting_authentication": false,
        "encryption_type": "enhanced_encryption",
        "approved_or_denied_countries_or_regions": {"enable": false},
        "breakout_room": {"enable": false},
        "email_notification": true,
        "focus_mode": false,
        "private_meeting": false,
        "host_save_video_order": false
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn tz_of(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

impl Meeting {
    pub fn create(
        id: i64,
        host: &User,
        input: MeetingInput,
        now: OffsetDateTime,
    ) -> Result<Meeting, ApiError> {
        let password = match input.password.as_deref() {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => ids::alphanumeric(6),
        };
        let mut m = Meeting {
            id,
            uuid: ids::meeting_uuid(),
            host_id: host.id.clone(),
            host_email: host.email.clone(),
            account_id: host.account_id.clone(),
            topic: "Zoom meeting".to_owned(),
            meeting_type: 2,
            start_time: None,
            duration: DEFAULT_DURATION,
            timezone: host.timezone.clone(),
            agenda: String::new(),
            password,
            h323_password: ids::digits(6),
            encrypted_password: ids::token(24),
            pre_schedule: false,
            settings: default_settings(),
            recurrence: None,
            occurrences: Vec::new(),
            tracking_fields: Vec::new(),
            created_at: now,
            status: Status::Waiting,
            started_at: None,
            ended_at: None,
            deleted_at: None,
            participants: Vec::new(),
        };
        m.apply(input, now, true)?;
        Ok(m)
    }

    /// Applies a create or PATCH body to the whole meeting.
    pub fn apply(
        &mut self,
        input: MeetingInput,
        now: OffsetDateTime,
        creating: bool,
    ) -> Result<(), ApiError> {
        if let Some(t) = input.topic {
            self.topic = t;
        }
        if let Some(t) = input.meeting_type {
            self.meeting_type = t;
        }
        if let Some(tz) = input.timezone {
            self.timezone = tz;
        }
        if let Some(d) = input.duration {
            self.duration = d;
        }
        if let Some(a) = input.agenda {
            self.agenda = a;
        }
        if let Some(p) = input.password
            && !p.is_empty()
        {
            self.password = p;
        }
        if let Some(p) = input.pre_schedule {
            self.pre_schedule = p;
        }
        if let Some(t) = input.tracking_fields {
            self.tracking_fields = t;
        }
        for (k, v) in input.settings {
            self.settings.insert(k, v);
        }
        let tz = tz_of(&self.timezone);
        let requested_start = match input.start_time {
            Some(StartTime::Utc(t)) => Some(t),
            Some(StartTime::Local(local)) => {
                Some(recurrence::to_utc(local, &tz).ok_or_else(|| {
                    ApiError::validation(vec![FieldError::new(
                        "start_time",
                        "Invalid field: the local time does not exist in this timezone.",
                    )])
                })?)
            }
            None => None,
        };
        let recurrence_given = input.recurrence.is_some();
        if let Some(r) = input.recurrence {
            self.recurrence = Some(r);
        }
        match self.meeting_type {
            1 => {
                // Zoom ignores a start time for instant meetings and returns none: "Start time
                // will not be returned if the meeting is an instant meeting."
                self.start_time = None;
                self.recurrence = None;
                self.occurrences.clear();
            }
            2 => {
                self.start_time = requested_start.or(self.start_time).or(Some(now));
                self.recurrence = None;
                self.occurrences.clear();
            }
            3 => {
                self.start_time = None;
                self.occurrences.clear();
            }
            _ => {
                let Some(rec) = self.recurrence.clone() else {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "recurrence",
                        "A recurring meeting with a fixed time (type 8) needs a recurrence.",
                    )]));
                };
                // Zoom's PATCH: "If the start_time value is a future date, the recurrence
                // object is required". Without this a client that moves a series but keeps
                // its old recurrence (say, its weekdays) would pass here and fail at Zoom.
                if !creating
                    && !recurrence_given
                    && requested_start.is_some_and(|start| start > now)
                {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "recurrence",
                        "The recurrence object is required when a recurring meeting with a fixed time (type 8) gets a future start_time.",
                    )]));
                }
                let start = requested_start.or(self.start_time).unwrap_or(now);
                let rebuild = creating
                    || recurrence_given
                    || requested_start.is_some()
                    || self.occurrences.is_empty();
                if rebuild {
                    let local = recurrence::to_local(start, &tz).ok_or_else(|| {
                        ApiError::validation(vec![FieldError::new("start_time", "Invalid field.")])
                    })?;
                    let starts = rec.occurrences(local, &tz);
                    if starts.is_empty() {
                        return Err(ApiError::validation(vec![FieldError::new(
                            "recurrence",
                            "The recurrence has no occurrence.",
                        )]));
                    }
                    self.occurrences = starts
                        .into_iter()
                        .map(|t| Occurrence {
                            occurrence_id: (t.unix_timestamp() * 1000).to_string(),
                            start_time: t,
                            duration: self.duration,
                            deleted: false,
                            agenda: None,
                            settings: Map::new(),
                        })
                        .collect();
                } else if input.duration.is_some() {
                    for o in &mut self.occurrences {
                        o.duration = self.duration;
                    }
                }
                self.start_time = self.occurrences.first().map(|o| o.start_time);
            }
        }
        Ok(())
    }

    pub fn occurrence_mut(&mut self, occurrence_id: &str) -> Result<&mut Occurrence, ApiError> {
        self.occurrences
            .iter_mut()
            .find(|o| o.occurrence_id == occurrence_id && !o.deleted)
            .ok_or_else(|| ApiError::bad_request(3000, "Invalid occurrence_id."))
    }

    pub fn occurrence(&self, occurrence_id: &str) -> Result<&Occurrence, ApiError> {
        self.occurrences
            .iter()
            .find(|o| o.occurrence_id == occurrence_id && !o.deleted)
            .ok_or_else(|| ApiError::bad_request(3000, "Invalid occurrence_id."))
    }

    /// PATCH with `occurrence_id`: agenda, start time, duration and a few settings.
    pub fn apply_occurrence(
        &mut self,
        occurrence_id: &str,
        input: MeetingInput,
    ) -> Result<(), ApiError> {
        let tz = tz_of(&self.timezone);
        let occ = self.occurrence_mut(occurrence_id)?;
        if let Some(a) = input.agenda {
            occ.agenda = Some(a);
        }
        if let Some(d) = input.duration {
            occ.duration = d;
        }
        match input.start_time {
            Some(StartTime::Utc(t)) => occ.start_time = t,
            Some(StartTime::Local(l)) => {
                occ.start_time = recurrence::to_utc(l, &tz).ok_or_else(|| {
                    ApiError::validation(vec![FieldError::new("start_time", "Invalid field.")])
                })?;
            }
            None => {}
        }
        for (k, v) in input.settings {
            occ.settings.insert(k, v);
        }
        Ok(())
    }

    fn end_of_life(&self) -> OffsetDateTime {
        let duration = Duration::minutes(self.duration);
        match self.meeting_type {
            8 => {
                let last = self
                    .occurrences
                    .iter()
                    .filter(|o| !o.deleted)
                    .map(|o| o.start_time + Duration::minutes(o.duration))
                    .max()
                    .unwrap_or(self.created_at);
                last + Duration::days(30)
            }
            3 => {
                let last = self
                    .started_at
                    .unwrap_or(self.created_at)
                    .max(self.created_at);
                last + Duration::days(365)
            }
            _ => {
                let start = self.start_time.unwrap_or(self.created_at);
                let end = (start + duration).max(self.ended_at.unwrap_or(start));
                end + Duration::days(30)
            }
        }
    }

    /// Deleted, or past Zoom's retention (30 days after a scheduled end, 365 days of disuse
    /// for no-fixed-time meetings). Both answer 3001.
    pub fn gone(&self, now: OffsetDateTime) -> bool {
        self.deleted_at.is_some() || (self.status != Status::Started && now > self.end_of_life())
    }

    pub fn join_url(&self, base: &Url) -> String {
        format!("{}j/{}?pwd={}", base, self.id, self.encrypted_password)
    }

    pub fn start_url(&self, base: &Url, zak: &str) -> String {
        format!("{}s/{}?zak={}", base, self.id, zak)
    }

    fn next_start(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.meeting_type == 8 {
            let live: Vec<&Occurrence> = self.occurrences.iter().filter(|o| !o.deleted).collect();
            return live
                .iter()
                .find(|o| o.start_time + Duration::minutes(o.duration) >= now)
                .or(live.last())
                .map(|o| o.start_time);
        }
        self.start_time
    }

    fn occurrences_json(&self, now: OffsetDateTime, show_previous: bool) -> Vec<Value> {
        self.occurrences
            .iter()
            .filter(|o| !o.deleted)
            .filter(|o| show_previous || o.start_time + Duration::minutes(o.duration) >= now)
            .map(|o| {
                json!({
                    "occurrence_id": o.occurrence_id,
                    "start_time": timefmt::format(o.start_time),
                    "duration": o.duration,
                    "status": "available",
                })
            })
            .collect()
    }

    /// The full meeting object of create (201) and GET (200) responses.
    pub fn render(&self, view: RenderView<'_>) -> Value {
        let mut start_time = self.next_start(view.now);
        let mut duration = self.duration;
        let mut agenda = self.agenda.clone();
        let mut settings = self.settings.clone();
        if let Some(occ) = view.occurrence {
            start_time = Some(occ.start_time);
            duration = occ.duration;
            if let Some(a) = &occ.agenda {
                agenda.clone_from(a);
            }
            for (k, v) in &occ.settings {
                settings.insert(k.clone(), v.clone());
            }
        }
        let mut o = Map::new();
        o.insert("uuid".into(), json!(self.uuid));
        o.insert("id".into(), json!(self.id));
        o.insert("host_id".into(), json!(self.host_id));
        o.insert("host_email".into(), json!(self.host_email));
        o.insert("topic".into(), json!(self.topic));
        o.insert("type".into(), json!(self.meeting_type));
        if view.with_status {
            o.insert("status".into(), json!(self.status.label()));
        }
        if let Some(t) = start_time {
            o.insert("start_time".into(), json!(timefmt::format(t)));
        }
        o.insert("duration".into(), json!(duration));
        o.insert("timezone".into(), json!(self.timezone));
        if !agenda.is_empty() {
            o.insert("agenda".into(), json!(agenda));
        }
        o.insert("created_at".into(), json!(timefmt::format(self.created_at)));
        o.insert(
            "start_url".into(),
            json!(self.start_url(view.base, view.zak)),
        );
        o.insert("join_url".into(), json!(self.join_url(view.base)));
        o.insert("password".into(), json!(self.password));
        o.insert("h323_password".into(), json!(self.h323_password));
        o.insert("pstn_password".into(), json!(self.h323_password));
        o.insert("encrypted_password".into(), json!(self.encrypted_password));
        o.insert("pre_schedule".into(), json!(self.pre_schedule));
        o.insert("settings".into(), Value::Object(settings));
        if let Some(r) = &self.recurrence
            && (self.meeting_type == 8 || self.meeting_type == 3)
        {
            o.insert("recurrence".into(), json!(r));
        }
        if self.meeting_type == 8 {
            o.insert(
                "occurrences".into(),
                json!(self.occurrences_json(view.now, view.show_previous)),
            );
        }
        if !self.tracking_fields.is_empty() {
            o.insert("tracking_fields".into(), json!(self.tracking_fields));
        }
        Value::Object(o)
    }

    /// One entry of `GET /users/{userId}/meetings`.
    pub fn render_list_item(&self, base: &Url, now: OffsetDateTime) -> Value {
        let mut o = Map::new();
        o.insert("uuid".into(), json!(self.uuid));
        o.insert("id".into(), json!(self.id));
        o.insert("host_id".into(), json!(self.host_id));
        o.insert("topic".into(), json!(self.topic));
        o.insert("type".into(), json!(self.meeting_type));
        if let Some(t) = self.next_start(now) {
            o.insert("start_time".into(), json!(timefmt::format(t)));
        }
        o.insert("duration".into(), json!(self.duration));
        o.insert("timezone".into(), json!(self.timezone));
        if !self.agenda.is_empty() {
            // Zoom's list cuts the agenda to 250 characters; the meeting itself has all of it.
            let cut: String = self.agenda.chars().take(250).collect();
            o.insert("agenda".into(), json!(cut));
        }
        o.insert("created_at".into(), json!(timefmt::format(self.created_at)));
        o.insert("join_url".into(), json!(self.join_url(base)));
        Value::Object(o)
    }

    /// `payload.object` of meeting webhooks; note the id is a string there.
    pub fn webhook_object(&self, now: OffsetDateTime) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id.to_string()));
        o.insert("uuid".into(), json!(self.uuid));
        o.insert("host_id".into(), json!(self.host_id));
        o.insert("topic".into(), json!(self.topic));
        o.insert("type".into(), json!(self.meeting_type));
        let start = self.started_at.or(self.next_start(now)).unwrap_or(now);
        o.insert("start_time".into(), json!(timefmt::format(start)));
        o.insert("timezone".into(), json!(self.timezone));
        o.insert("duration".into(), json!(self.duration));
        o
    }

    /// Which list a meeting belongs to for `GET /users/{userId}/meetings?type=..`. Instant
    /// meetings are in none: Zoom's list "does not return information about instant meetings".
    pub fn in_list(&self, list: ListType, now: OffsetDateTime) -> bool {
        if self.meeting_type == 1 {
            return false;
        }
        match list {
            ListType::Scheduled => true,
            ListType::Live => self.status == Status::Started,
            ListType::Upcoming => {
                self.status == Status::Started
                    || self.meeting_type == 3
                    || self.next_start(now).is_some_and(|t| t >= now)
            }
            ListType::Previous => self.ended_at.is_some(),
        }
    }

    pub fn sort_key(&self, now: OffsetDateTime) -> (OffsetDateTime, i64) {
        (self.next_start(now).unwrap_or(self.created_at), self.id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    Scheduled,
    Live,
    Upcoming,
    Previous,
}

impl ListType {
    pub fn parse(s: &str) -> Option<ListType> {
        match s {
            "scheduled" => Some(ListType::Scheduled),
            "live" => Some(ListType::Live),
            "upcoming" | "upcoming_meetings" => Some(ListType::Upcoming),
            "previous_meetings" => Some(ListType::Previous),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct RenderView<'a> {
    pub base: &'a Url,
    pub zak: &'a str,
    pub now: OffsetDateTime,
    pub with_status: bool,
    pub occurrence: Option<&'a Occurrence>,
    pub show_previous: bool,
}
