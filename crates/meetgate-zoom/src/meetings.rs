use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Zoom's meeting types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum ZoomMeetingType {
    Instant = 1,
    Scheduled = 2,
    RecurringNoFixedTime = 3,
    RecurringFixedTime = 8,
}

impl From<ZoomMeetingType> for u8 {
    fn from(value: ZoomMeetingType) -> Self {
        value as u8
    }
}

impl TryFrom<u8> for ZoomMeetingType {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(Self::Instant),
            2 => Ok(Self::Scheduled),
            3 => Ok(Self::RecurringNoFixedTime),
            8 => Ok(Self::RecurringFixedTime),
            other => Err(format!("unknown meeting type {other}")),
        }
    }
}

/// Body of `POST /users/{userId}/meetings`. Nothing is required by Zoom; `None` is left out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MeetingRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub meeting_type: Option<ZoomMeetingType>,
    /// `yyyy-MM-ddTHH:mm:ssZ` (UTC) or local time with `timezone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agenda: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
}

/// Body of `PATCH /meetings/{meetingId}`: the same fields, all optional.
pub type MeetingUpdateRequest = MeetingRequest;

/// One occurrence of a recurring meeting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ZoomOccurrence {
    pub occurrence_id: String,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub duration: Option<i32>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A meeting as Zoom returns it. `start_url` carries the host's ZAK: use it at once, never store
/// it. Unknown fields are ignored.
#[derive(Clone, Serialize, Deserialize)]
pub struct ZoomMeeting {
    pub id: i64,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub host_id: Option<String>,
    #[serde(default)]
    pub host_email: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(rename = "type", default)]
    pub meeting_type: Option<u8>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub duration: Option<i32>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub agenda: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub start_url: Option<String>,
    #[serde(default)]
    pub join_url: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Kept as Zoom's text: meetgate passes it on without reading it, and parsing Zoom's fifty
    /// settings into a map and writing them out again was a tenth of a create's CPU.
    #[serde(default)]
    pub settings: Option<Box<RawValue>>,
    #[serde(default)]
    pub recurrence: Option<Box<RawValue>>,
    #[serde(default)]
    pub occurrences: Option<Vec<ZoomOccurrence>>,
}

impl std::fmt::Debug for ZoomMeeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Topic, agenda, links and passwords may be health data or credentials.
        f.debug_struct("ZoomMeeting")
            .field("id", &self.id)
            .field("host_id", &self.host_id)
            .field("type", &self.meeting_type)
            .field("status", &self.status)
            .field("start_time", &self.start_time)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// A page of `GET /users/{userId}/meetings`.
#[derive(Debug, Clone, Deserialize)]
pub struct MeetingList {
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub page_size: Option<i64>,
    #[serde(default)]
    pub total_records: Option<i64>,
    #[serde(default)]
    pub meetings: Vec<ZoomMeeting>,
}
