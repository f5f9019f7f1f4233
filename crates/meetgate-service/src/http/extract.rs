use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::problem::ApiError;
use crate::Error;
use crate::domain::{Ctx, Services};

/// The request id set (or taken from `X-Request-Id`) by the request-id layer.
#[derive(Debug, Clone)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// An API request authenticated by its tenant's key: the context every `/v1` handler acts in.
#[derive(Debug, Clone)]
pub struct ApiCtx(pub Ctx, pub RequestId);

impl FromRequestParts<Services> for ApiCtx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        services: &Services,
    ) -> Result<Self, Self::Rejection> {
        let rid = RequestId::from_request_parts(parts, services)
            .await
            .unwrap_or(RequestId(None));
        let reject = |error| ApiError {
            error,
            request_id: rid.0.clone(),
        };
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| reject(Error::Unauthenticated))?;
        let now = services.clock.now();
        let ctx = services
            .authenticate_api_key(key, rid.0.clone(), now)
            .await
            .map_err(reject)?;
        Ok(Self(ctx, rid))
    }
}

/// `Json<T>` whose rejections are problems (`malformed-body`, `payload-too-large`).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = super::problem::Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let rid = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let slug = if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    "payload-too-large"
                } else {
                    "malformed-body"
                };
                Err(super::problem::Problem::new(slug, rejection.body_text()).with_request_id(rid))
            }
        }
    }
}

/// `Path<T>` where a malformed id answers 404, like an id that does not exist.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = super::problem::Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rid = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(_) => Err(
                super::problem::Problem::new("not-found", "no such resource").with_request_id(rid),
            ),
        }
    }
}

/// `Query<T>` whose rejections are `validation` problems.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = super::problem::Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rid = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(rejection) => Err(super::problem::Problem::new(
                "validation",
                rejection.body_text(),
            )
            .with_request_id(rid)),
        }
    }
}

/// The `Idempotency-Key` header, if sent.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
