//! A typed client for Zoom: the OAuth server (authorize URL with PKCE, code exchange, refresh,
//! account credentials, revoke), the Meetings API on behalf of a user, the scope rules of each
//! app type, and webhook signatures.
//!
//! Everything here is stateless: tokens come in as arguments and go out as results. Storing and
//! refreshing them is the service's job.

mod api;
mod api_error;
mod http;
mod meetings;
mod oauth;
mod pkce;
pub mod scopes;
mod secret;
mod webhook;

pub use api::{UserTarget, ZoomApi, ZoomUser};
pub use api_error::{ApiError, ApiErrorKind, DAILY_LIMIT, FieldError, retry_delay_secs};
pub use http::{HttpConfig, build_http_client, http_client_builder, transport_error_text};
pub use meetings::{
    MeetingList, MeetingRequest, MeetingUpdateRequest, ZoomMeeting, ZoomMeetingType, ZoomOccurrence,
};
pub use oauth::{AuthorizeRequest, OAuthApp, TokenError, TokenErrorKind, TokenResponse};
pub use pkce::{Pkce, random_token};
pub use secret::Secret;
pub use webhook::{
    SignatureError, sign_webhook, url_validation_response, verify_webhook_signature,
};

/// Zoom's production endpoints; tests and the demo point these at the sandbox.
pub const ZOOM_AUTH_BASE: &str = "https://zoom.us";
pub const ZOOM_API_BASE: &str = "https://api.zoom.us";
