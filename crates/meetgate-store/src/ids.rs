use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7), so ids sort by creation and serve as cursors.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A tenant: one clinic or host application.
    TenantId
);
id_type!(
    /// An API key of a tenant.
    ApiKeyId
);
id_type!(
    /// A member who signs in to the web app.
    MemberId
);
id_type!(
    /// A pending invitation for a member.
    InvitationId
);
id_type!(
    /// A host application's user, known to meetgate by the host app's `external_id`.
    EndUserId
);
id_type!(
    /// A registered Zoom app (client id and secret).
    ZoomAppId
);
id_type!(
    /// A connect session: the link a host app hands to its user to connect Zoom.
    ConnectSessionId
);
id_type!(
    /// One trip through Zoom's authorization page.
    OAuthAttemptId
);
id_type!(
    /// A stored Zoom grant for one end user and one Zoom app.
    ConnectionId
);
id_type!(
    /// A meeting created through meetgate.
    MeetingId
);
id_type!(
    /// An event received from Zoom's webhooks.
    InboxItemId
);
id_type!(
    /// An event for the host app, delivered through its webhook endpoints.
    OutboxEventId
);
id_type!(
    /// A host app's webhook endpoint.
    WebhookEndpointId
);
id_type!(
    /// One delivery of one outbox event to one endpoint.
    DeliveryId
);
id_type!(
    /// An audit log entry.
    AuditEventId
);
