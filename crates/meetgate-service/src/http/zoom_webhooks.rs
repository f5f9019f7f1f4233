use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use meetgate_store::ZoomAppId;

use super::extract::{ApiPath, RequestId};
use super::problem::WithRequestId;
use crate::domain::{Services, WebhookReply};

/// Zoom's event notifications for one registered app. The raw bytes are verified before parsing.
pub async fn receive(
    State(services): State<Services>,
    ApiPath(app_id): ApiPath<ZoomAppId>,
    headers: HeaderMap,
    rid: RequestId,
    body: Bytes,
) -> Result<Response, super::ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = services.clock.now();
    let reply = services
        .receive_zoom_webhook(
            app_id,
            header("x-zm-request-timestamp"),
            header("x-zm-signature"),
            &body,
            rid.0.as_deref(),
            now,
        )
        .await
        .rid(&rid)?;
    Ok(match reply {
        WebhookReply::Validation(answer) => (StatusCode::OK, Json(answer)).into_response(),
        WebhookReply::Accepted => StatusCode::NO_CONTENT.into_response(),
    })
}
