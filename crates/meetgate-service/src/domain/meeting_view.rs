use meetgate_store::models::Meeting;
use meetgate_store::{MeetingId, SealedColumn};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::Services;
use crate::{Error, Result};

/// What meetgate keeps of a meeting that may be health data: sealed as one document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MeetingDetails {
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub agenda: Option<String>,
    #[serde(default)]
    pub client_label: Option<String>,
    #[serde(default)]
    pub join_url: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Zoom's own JSON, as Zoom wrote it.
    #[serde(default)]
    pub settings: Option<Box<RawValue>>,
    #[serde(default)]
    pub recurrence: Option<Box<RawValue>>,
    #[serde(default)]
    pub occurrences: Option<Value>,
}

/// A meeting as the host app sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeetingView {
    pub id: MeetingId,
    /// The host app's id for the user who hosts it.
    pub user: String,
    pub zoom_meeting_id: i64,
    /// `instant`, `scheduled` or `recurring`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `waiting`, `started`, `ended` or `deleted`.
    pub status: String,
    pub topic: Option<String>,
    pub client_label: Option<String>,
    pub agenda: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub start_time: Option<OffsetDateTime>,
    pub duration: Option<i32>,
    pub timezone: Option<String>,
    pub join_url: Option<String>,
    pub password: Option<String>,
    /// Opens Zoom as host with a start URL fetched at click time. Signed and expiring, so a
    /// browser can open it without an API key.
    pub start_link: String,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub recurrence: Option<Box<RawValue>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub occurrences: Option<Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a start link carries.
#[derive(Debug, Clone, Copy)]
pub struct StartLinkClaims {
    pub tenant: meetgate_store::TenantId,
    pub meeting: MeetingId,
    pub expires: i64,
}

/// How long a start link works past the meeting's end (or past its creation, when it has no
/// fixed time).
const START_LINK_GRACE_HOURS: i64 = 24;
const START_LINK_MAX_DAYS: i64 = 400;

impl Services {
    pub(crate) fn seal_details(
        &self,
        meeting: &Meeting,
        details: &MeetingDetails,
    ) -> Result<meetgate_store::SealedValue> {
        self.seal_details_for(meeting.tenant_id, meeting.id, details)
    }

    pub(crate) fn seal_details_for(
        &self,
        tenant: meetgate_store::TenantId,
        id: MeetingId,
        details: &MeetingDetails,
    ) -> Result<meetgate_store::SealedValue> {
        let json = serde_json::to_vec(details).map_err(Error::internal)?;
        Ok(self.vault.seal(
            SealedColumn::MeetingDetails,
            Some(tenant),
            &id.to_string(),
            &json,
        )?)
    }

    pub(crate) fn open_details(&self, meeting: &Meeting) -> Result<MeetingDetails> {
        // The tombstone written when a user deauthorized the app: nothing is kept.
        if meeting.details.0.is_empty() {
            return Ok(MeetingDetails::default());
        }
        let bytes = self.vault.open(
            SealedColumn::MeetingDetails,
            Some(meeting.tenant_id),
            &meeting.id.to_string(),
            &meeting.details,
        )?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("meeting details unreadable: {e}")))
    }

    fn start_link_message(tenant: meetgate_store::TenantId, id: MeetingId, expires: i64) -> String {
        format!("start:{tenant}:{id}:{expires}")
    }

    pub(crate) fn start_link(&self, meeting: &Meeting, now: OffsetDateTime) -> String {
        let anchor = match (meeting.start_time, meeting.duration_minutes) {
            (Some(start), Some(minutes)) => {
                (start + time::Duration::minutes(minutes as i64)).max(now)
            }
            (Some(start), None) => start.max(now),
            _ => now,
        };
        let expires = (anchor + time::Duration::hours(START_LINK_GRACE_HOURS))
            .min(now + time::Duration::days(START_LINK_MAX_DAYS));
        let expires = expires.unix_timestamp();
        let sig = self.vault.sign_link(&Self::start_link_message(
            meeting.tenant_id,
            meeting.id,
            expires,
        ));
        self.link(&format!(
            "/v1/meetings/{}/start?tenant={}&expires={expires}&sig={sig}",
            meeting.id, meeting.tenant_id
        ))
    }

    /// Checks a start link's signature and expiry.
    pub fn verify_start_link(
        &self,
        tenant: meetgate_store::TenantId,
        id: MeetingId,
        expires: i64,
        sig: &str,
        now: OffsetDateTime,
    ) -> Result<StartLinkClaims> {
        if !self
            .vault
            .verify_link(&Self::start_link_message(tenant, id, expires), sig)
        {
            return Err(Error::Forbidden("this start link is not valid".into()));
        }
        if expires < now.unix_timestamp() {
            return Err(Error::Forbidden(
                "this start link has expired; open the meeting again from the application".into(),
            ));
        }
        Ok(StartLinkClaims {
            tenant,
            meeting: id,
            expires,
        })
    }

    pub(crate) fn meeting_view(
        &self,
        meeting: &Meeting,
        external_id: &str,
        now: OffsetDateTime,
    ) -> Result<MeetingView> {
        let details = self.open_details(meeting)?;
        Ok(self.meeting_view_of(meeting, details, external_id, now))
    }

    /// [`Services::meeting_view`] with the details in hand (a meeting just created), so that
    /// they are not decrypted again right after being sealed.
    pub(crate) fn meeting_view_of(
        &self,
        meeting: &Meeting,
        details: MeetingDetails,
        external_id: &str,
        now: OffsetDateTime,
    ) -> MeetingView {
        MeetingView {
            id: meeting.id,
            user: external_id.to_owned(),
            zoom_meeting_id: meeting.zoom_meeting_id,
            kind: meeting.kind.as_str().to_owned(),
            status: meeting.status.as_str().to_owned(),
            topic: details.topic,
            client_label: details.client_label,
            agenda: details.agenda,
            start_time: meeting.start_time,
            duration: meeting.duration_minutes,
            timezone: meeting.timezone.clone(),
            join_url: details.join_url,
            password: details.password,
            start_link: self.start_link(meeting, now),
            settings: details.settings,
            recurrence: details.recurrence,
            occurrences: details.occurrences,
            created_at: meeting.created_at,
            updated_at: meeting.updated_at,
        }
    }
}
