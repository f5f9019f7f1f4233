//! Things that happen in the simulated Zoom world and notify apps: meetings starting and
//! ending, participants joining, users removing an app.

use serde_json::{Value, json};

use crate::control::dto::Affected;
use crate::ids;
use crate::meetings::{Participant, Status};
use crate::oauth::store::GrantState;
use crate::state::SandboxState;
use crate::timefmt;
use crate::webhooks;
use crate::world::AppType;

#[derive(Debug, thiserror::Error)]
pub enum WorldEventError {
    #[error("meeting {0} is not found or has expired")]
    MeetingNotFound(i64),
    #[error("meeting {0} is not in progress")]
    NotStarted(i64),
    #[error("meeting {0} has not started and does not allow joining before the host")]
    WaitingForHost(i64),
    #[error("user {0} does not exist")]
    UnknownUser(String),
    #[error("app {0} does not exist")]
    UnknownApp(String),
    #[error("app {client_id} is not installed for user {user}")]
    NotInstalled { client_id: String, user: String },
    #[error("only an account owner or admin can remove the admin-managed app {0}")]
    NotAdmin(String),
    #[error("server-to-server app {0} cannot be removed by a user")]
    ServerToServer(String),
}

impl SandboxState {
    /// Starts a meeting (`meeting.started`). Starting a started meeting changes nothing.
    pub(crate) fn start_meeting(&self, id: i64) -> Result<Vec<u64>, WorldEventError> {
        let now = self.now();
        let out = {
            let mut inner = self.inner();
            let m = inner
                .live_meeting_mut(id, now)
                .ok_or(WorldEventError::MeetingNotFound(id))?;
            if m.status == Status::Started {
                return Ok(Vec::new());
            }
            m.status = Status::Started;
            m.started_at = Some(now);
            m.ended_at = None;
            m.participants.clear();
            let m = m.clone();
            let object = m.webhook_object(now);
            webhooks::meeting_event(&inner, &m, "meeting.started", object, now)
        };
        Ok(self.dispatch(out))
    }

    /// Ends a started meeting (`meeting.ended`, with `end_time`).
    pub(crate) fn end_meeting(&self, id: i64) -> Result<Vec<u64>, WorldEventError> {
        let now = self.now();
        let out = {
            let mut inner = self.inner();
            let m = inner
                .live_meeting_mut(id, now)
                .ok_or(WorldEventError::MeetingNotFound(id))?;
            if m.status != Status::Started {
                return Err(WorldEventError::NotStarted(id));
            }
            let mut object = m.webhook_object(now);
            m.status = Status::Waiting;
            m.ended_at = Some(now);
            object.insert("end_time".into(), json!(timefmt::format(now)));
            let m = m.clone();
            webhooks::meeting_event(&inner, &m, "meeting.ended", object, now)
        };
        Ok(self.dispatch(out))
    }

    /// A participant joins (`meeting.participant_joined`).
    pub(crate) fn participant_joined(
        &self,
        id: i64,
        name: &str,
        email: Option<&str>,
    ) -> Result<Vec<u64>, WorldEventError> {
        let now = self.now();
        let out = {
            let mut inner = self.inner();
            let m = inner
                .live_meeting_mut(id, now)
                .ok_or(WorldEventError::MeetingNotFound(id))?;
            let jbh = m.settings.get("join_before_host").and_then(Value::as_bool) == Some(true);
            if m.status != Status::Started && !jbh {
                return Err(WorldEventError::WaitingForHost(id));
            }
            let p = Participant {
                id: ids::zoom_id(),
                user_name: name.to_owned(),
                email: email.unwrap_or_default().to_owned(),
                join_time: now,
            };
            m.participants.push(p.clone());
            let mut object = m.webhook_object(now);
            object.insert(
                "participant".into(),
                json!({
                    "user_id": ids::digits(8),
                    "user_name": p.user_name,
                    "id": p.id,
                    "participant_uuid": ids::zoom_id(),
                    "join_time": timefmt::format(p.join_time),
                    "email": p.email,
                    "registrant_id": "",
                    "participant_user_id": "",
                    "customer_key": "",
                    "phone_number": "",
                }),
            );
            let m = m.clone();
            webhooks::meeting_event(&inner, &m, "meeting.participant_joined", object, now)
        };
        Ok(self.dispatch(out))
    }

    /// A user removes an app from their account: its grant dies and the app hears
    /// `app_deauthorized`. Removing an admin-managed app uninstalls it for the account.
    pub(crate) fn deauthorize(
        &self,
        user_ref: &str,
        client_id: &str,
    ) -> Result<Affected, WorldEventError> {
        let now = self.now();
        let out = {
            let mut inner = self.inner();
            let user = inner
                .user_by_ref(user_ref)
                .map(|r| r.user.clone())
                .ok_or_else(|| WorldEventError::UnknownUser(user_ref.to_owned()))?;
            let app = inner
                .apps
                .get(client_id)
                .cloned()
                .ok_or_else(|| WorldEventError::UnknownApp(client_id.to_owned()))?;
            let grants: Vec<u64> = match app.app_type {
                AppType::ServerToServer => {
                    return Err(WorldEventError::ServerToServer(client_id.to_owned()));
                }
                AppType::UserManaged => inner
                    .oauth
                    .live_grants()
                    .filter(|g| g.client_id == client_id && g.user_id.as_deref() == Some(&user.id))
                    .map(|g| g.id)
                    .collect(),
                AppType::AdminManaged => inner
                    .oauth
                    .live_grants()
                    .filter(|g| g.client_id == client_id && g.account_id == user.account_id)
                    .map(|g| g.id)
                    .collect(),
            };
            if grants.is_empty() {
                return Err(WorldEventError::NotInstalled {
                    client_id: client_id.to_owned(),
                    user: user_ref.to_owned(),
                });
            }
            if app.app_type == AppType::AdminManaged && !user.role.is_admin() {
                return Err(WorldEventError::NotAdmin(client_id.to_owned()));
            }
            for g in &grants {
                inner.oauth.end_grant(*g, GrantState::Deauthorized);
            }
            let event = webhooks::deauthorized(&inner, &app, &user.account_id, &user.id, now);
            (grants.len(), event)
        };
        let (grants, event) = out;
        let deliveries = self.dispatch(event.into_iter().collect());
        Ok(Affected {
            grants: grants as u64,
            tokens: 0,
            deliveries,
        })
    }
}
