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
        let key = bearer_token(&parts.headers).ok_or_else(|| reject(Error::Unauthenticated))?;
        let now = services.clock.now();
        let ctx = services
            .authenticate_api_key(key, rid.0.clone(), now)
            .await
            .map_err(reject)?;
        Ok(Self(ctx, rid))
    }
}

/// A `validation` problem for an input that holds U+0000. No text meetgate keeps may contain it
/// (PostgreSQL refuses it in text and JSON columns), so it is refused at the door, on every
/// backend alike.
fn nul_problem(field: &str, request_id: Option<String>) -> super::problem::Problem {
    super::problem::Problem::from(&Error::validation(
        field,
        "must not contain the NUL character (U+0000)",
    ))
    .with_request_id(request_id)
}

/// The path (`a.b[2].c`) of the first string in `value`, key or value, that holds U+0000.
fn nul_in_json(value: &serde_json::Value, path: &str) -> Option<String> {
    let here = |path: &str| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| here(path)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in_json(v, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let inner = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(here(path))
            } else {
                nul_in_json(v, &inner)
            }
        }),
        _ => None,
    }
}

/// `Json<T>` whose rejections are problems (`malformed-body`, `payload-too-large`,
/// `unsupported-media-type`), and which
/// refuses strings holding U+0000 (`validation`).
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
        let reject = |status: axum::http::StatusCode, text: String| {
            let slug = match status {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
                _ => "malformed-body",
            };
            super::problem::Problem::new(slug, text).with_request_id(rid.clone())
        };
        // The body is read once and handed to `Json` again, so that the NUL check below can
        // look at it; `Json` still checks the content type and parses as before.
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| reject(rejection.status(), rejection.body_text()))?;
        let mut rebuilt = axum::extract::Request::new(axum::body::Body::from(bytes.clone()));
        *rebuilt.headers_mut() = headers;
        match axum::Json::<T>::from_request(rebuilt, state).await {
            Ok(axum::Json(v)) => {
                // U+0000 can only be written `\u0000` in JSON; look closer only if that appears.
                if bytes.windows(6).any(|w| w == b"\\u0000")
                    && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
                    && let Some(field) = nul_in_json(&value, "")
                {
                    return Err(nul_problem(&field, rid));
                }
                Ok(Self(v))
            }
            // Well-formed JSON of the wrong shape (a wrong type, an unknown or missing field):
            // a `validation` problem that names the field, as for a value out of range.
            Err(axum::extract::rejection::JsonRejection::JsonDataError(rejection)) => {
                let mut json = serde_json::Deserializer::from_slice(&bytes);
                match serde_path_to_error::deserialize::<_, T>(&mut json) {
                    Err(e) => Err(shape_problem(&e, "body", rid)),
                    Ok(_) => Err(reject(rejection.status(), rejection.body_text())),
                }
            }
            Err(rejection) => Err(reject(rejection.status(), rejection.body_text())),
        }
    }
}

/// [`ApiJson`] for a body that may be left out: a request without one gets `T::default()`.
#[derive(Debug, Clone)]
pub struct ApiJsonOrDefault<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJsonOrDefault<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = super::problem::Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::body::HttpBody as _;
        let no_length = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        if no_length || req.body().size_hint().exact() == Some(0) {
            return Ok(Self(T::default()));
        }
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(v)| Self(v))
    }
}

/// Input that does not have the shape asked for, as a `validation` problem at the path where it
/// goes wrong (`whole` names the input itself: `body`, `query`).
fn shape_problem<E: std::fmt::Display>(
    e: &serde_path_to_error::Error<E>,
    whole: &str,
    request_id: Option<String>,
) -> super::problem::Problem {
    let path = e.path().to_string();
    let field = if path == "." { whole } else { path.as_str() };
    // serde_json ends its messages with the position, which the field already says better.
    let message = e.inner().to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m);
    super::problem::Problem::from(&Error::validation(field, message)).with_request_id(request_id)
}

/// `Path<T>` where a malformed id answers 404, like an id that does not exist, and a value
/// holding U+0000 is a `validation` problem.
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
            Ok(axum::extract::Path(v)) => {
                if let Ok(raw) =
                    axum::extract::RawPathParams::from_request_parts(parts, state).await
                    && let Some((name, _)) = raw.iter().find(|(_, value)| value.contains('\0'))
                {
                    return Err(nul_problem(name, rid));
                }
                Ok(Self(v))
            }
            Err(_) => Err(
                super::problem::Problem::new("not-found", "no such resource").with_request_id(rid),
            ),
        }
    }
}

/// `Query<T>` whose rejections, and values holding U+0000, are `validation` problems.
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
            Ok(axum::extract::Query(v)) => {
                let query = parts.uri.query().unwrap_or_default();
                if let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(name, value)| name.contains('\0') || value.contains('\0'))
                {
                    return Err(nul_problem(&name.replace('\0', ""), rid));
                }
                Ok(Self(v))
            }
            Err(rejection) => {
                // Read again, to name the parameter that does not fit.
                let query = parts.uri.query().unwrap_or_default();
                let params = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(
                    query.as_bytes(),
                ));
                match serde_path_to_error::deserialize::<_, T>(params) {
                    Err(e) => Err(shape_problem(&e, "query", rid)),
                    Ok(_) => Err(
                        super::problem::Problem::new("validation", rejection.body_text())
                            .with_request_id(rid),
                    ),
                }
            }
        }
    }
}

/// The `Idempotency-Key` header, if sent. A key that is not visible ASCII is refused rather than
/// ignored: ignoring it would run the request without the protection the client asked for.
pub fn idempotency_key(
    headers: &axum::http::HeaderMap,
    request_id: &RequestId,
) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => match value.to_str() {
            Ok(key) => Ok(Some(key.to_owned())),
            Err(_) => Err(ApiError {
                error: Error::validation(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                ),
                request_id: request_id.0.clone(),
            }),
        },
    }
}

/// The API key of an `Authorization: Bearer ...` header (the scheme in any case, RFC 9110).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::nul_in_json;

    #[test]
    fn nul_is_found_in_values_and_keys_with_its_path() {
        let found = |v: serde_json::Value| nul_in_json(&v, "");
        assert_eq!(
            found(serde_json::json!({"topic": "ok", "agenda": "a\0b"})),
            Some("agenda".into())
        );
        assert_eq!(
            found(serde_json::json!({"recurrence": {"weekly_days": [1], "type": "\0"}})),
            Some("recurrence.type".into())
        );
        assert_eq!(
            found(serde_json::json!({"return_urls": ["a", "b\0"]})),
            Some("return_urls[1]".into())
        );
        assert_eq!(found(serde_json::json!({"x\0": 1})), Some("body".into()));
        assert_eq!(found(serde_json::json!("\0")), Some("body".into()));
        assert_eq!(
            found(serde_json::json!({"text": "\\u0000 is not NUL"})),
            None
        );
    }
}

#[cfg(test)]
mod bearer_tests {
    use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

    use super::bearer_token;

    #[test]
    fn the_scheme_is_read_in_any_case_and_an_empty_token_is_none() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            headers
        };
        for value in ["Bearer mg_live_x", "bearer mg_live_x", "BEARER  mg_live_x "] {
            assert_eq!(bearer_token(&with(value)), Some("mg_live_x"), "{value}");
        }
        for value in ["Basic mg_live_x", "Bearer ", "Bearermg_live_x"] {
            assert_eq!(bearer_token(&with(value)), None, "{value}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
