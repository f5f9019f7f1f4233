use serde::{Deserialize, Serialize};

/// An encrypted value as stored: opaque bytes that only the service's vault can open.
///
/// The store never sees plaintext secrets; it only moves these bytes. `Debug` shows the length,
/// never the bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedValue(pub Vec<u8>);

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedValue({} bytes)", self.0.len())
    }
}

/// Every column that holds a [`SealedValue`]. The vault binds each ciphertext to its table and
/// column (and tenant and row), and key rotation walks them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealedColumn {
    ZoomAppClientSecret,
    ZoomAppWebhookSecret,
    ZoomAppWebhookSecretNext,
    ConnectionAccessToken,
    ConnectionRefreshToken,
    OAuthAttemptVerifier,
    MeetingDetails,
    IdempotencyResponse,
    InboxPayload,
    WebhookEndpointSecret,
    WebhookEndpointPreviousSecret,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 11] = [
        Self::ZoomAppClientSecret,
        Self::ZoomAppWebhookSecret,
        Self::ZoomAppWebhookSecretNext,
        Self::ConnectionAccessToken,
        Self::ConnectionRefreshToken,
        Self::OAuthAttemptVerifier,
        Self::MeetingDetails,
        Self::IdempotencyResponse,
        Self::InboxPayload,
        Self::WebhookEndpointSecret,
        Self::WebhookEndpointPreviousSecret,
    ];

    /// `(table, column)` as named in the schema.
    pub fn location(self) -> (&'static str, &'static str) {
        match self {
            Self::ZoomAppClientSecret => ("zoom_apps", "client_secret"),
            Self::ZoomAppWebhookSecret => ("zoom_apps", "webhook_secret"),
            Self::ZoomAppWebhookSecretNext => ("zoom_apps", "webhook_secret_next"),
            Self::ConnectionAccessToken => ("connections", "access_token"),
            Self::ConnectionRefreshToken => ("connections", "refresh_token"),
            Self::OAuthAttemptVerifier => ("oauth_attempts", "pkce_verifier"),
            Self::MeetingDetails => ("meetings", "details"),
            Self::IdempotencyResponse => ("idempotency_records", "response_body"),
            Self::InboxPayload => ("zoom_inbox", "payload"),
            Self::WebhookEndpointSecret => ("webhook_endpoints", "secret"),
            Self::WebhookEndpointPreviousSecret => ("webhook_endpoints", "previous_secret"),
        }
    }
}
