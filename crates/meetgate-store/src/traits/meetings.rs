use crate::models::{Connection, Meeting, MeetingQuery, MeetingStatus, MeetingUpdate, NewMeeting};
use crate::{ConnectionId, Effects, MeetingId, OffsetDateTime, StoreResult, TenantId, ZoomAppId};

#[async_trait::async_trait]
pub trait MeetingStore: Send + Sync {
    async fn insert_meeting(&self, meeting: &NewMeeting, effects: Effects) -> StoreResult<Meeting>;
    async fn get_meeting(&self, tenant: TenantId, id: MeetingId) -> StoreResult<Option<Meeting>>;
    /// A meeting and the connection it was created on, read together: what opening a start
    /// link needs, in one snapshot and one read where the backend can. The connection is `None`
    /// only if it no longer exists.
    async fn get_meeting_with_connection(
        &self,
        tenant: TenantId,
        id: MeetingId,
    ) -> StoreResult<Option<(Meeting, Option<Connection>)>>;
    async fn list_meetings(
        &self,
        tenant: TenantId,
        query: &MeetingQuery,
    ) -> StoreResult<Vec<Meeting>>;
    /// Meetings with Zoom's id made through a connection of Zoom app `zoom_app`, in any tenant.
    /// Not tenant-scoped: Zoom's webhooks name the meeting by Zoom's id, and the caller routes
    /// the event to each owning tenant. Scoped to the app: a webhook verified with one app's
    /// secret speaks only for that app's meetings, never for another tenant's app.
    async fn find_meetings_by_zoom_id(
        &self,
        zoom_app: ZoomAppId,
        zoom_meeting_id: i64,
    ) -> StoreResult<Vec<Meeting>>;
    /// `None` when the meeting is not in the tenant or is deleted; `VersionConflict` (nothing
    /// written) when its details are no longer `update.replaces`.
    async fn update_meeting(
        &self,
        tenant: TenantId,
        id: MeetingId,
        update: &MeetingUpdate,
        effects: Effects,
    ) -> StoreResult<Option<Meeting>>;
    async fn mark_meeting_deleted(
        &self,
        tenant: TenantId,
        id: MeetingId,
        now: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<Option<Meeting>>;
    /// Applies a status change only if `event_at` is newer than the last change, so an older
    /// event never overwrites newer state. Returns whether it applied.
    async fn set_meeting_status(
        &self,
        tenant: TenantId,
        id: MeetingId,
        status: MeetingStatus,
        event_at: OffsetDateTime,
        effects: Effects,
    ) -> StoreResult<bool>;
    /// Deauthorization: forgets what Zoom told us about the meetings of a connection (details
    /// replaced by `replacement`, typically an empty sealed document), and deletes the answers
    /// kept for idempotent retries of operations on those meetings, which repeat the details.
    /// Rows that already hold `replacement` are left alone, so a retry rewrites nothing. With
    /// `created_before`, only meetings created before then (those of a grant that ended then).
    /// Returns the meetings changed.
    async fn purge_meeting_details(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        replacement: &crate::SealedValue,
        created_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<u64>;
}
