//! Connecting a member's own Zoom account from meetgate's web app.

use super::members::member_external_id;
use super::{ConnectSessionView, ConnectionView, Ctx, Diagnosis, NewConnectSession, Services};
use crate::{Error, Result};

/// A member's Zoom connection as the dashboard shows it.
#[derive(Debug, Clone)]
pub struct MemberConnection {
    pub connection: ConnectionView,
    /// The doctor's verdict on the grant; `None` when it could not be read.
    pub diagnosis: Option<Diagnosis>,
}

impl Services {
    /// A connect session for the member acting in `ctx` that returns to meetgate's own
    /// dashboard. That URL is meetgate's, not the tenant's, so it needs no place on the tenant's
    /// allow list and cannot become an open redirect.
    pub async fn create_member_connect_session(&self, ctx: &Ctx) -> Result<ConnectSessionView> {
        let member = self.current_member(ctx).await?;
        let new = NewConnectSession {
            user: member_external_id(member.id),
            email: Some(member.email),
            name: Some(member.name),
            return_url: self.link("/app"),
            zoom_app_id: None,
        };
        self.insert_connect_session(ctx, new).await
    }

    /// The member's connection and the doctor's verdict on it; `None` before the first connect.
    pub async fn member_connection(
        &self,
        ctx: &Ctx,
        external_id: &str,
    ) -> Result<Option<MemberConnection>> {
        let connection = match self.get_connection(ctx, external_id).await {
            Ok(c) => c,
            Err(Error::NotConnected { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let diagnosis = match self.diagnose(ctx, external_id, None).await {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, "diagnosing a member's connection failed");
                None
            }
        };
        Ok(Some(MemberConnection {
            connection,
            diagnosis,
        }))
    }
}
