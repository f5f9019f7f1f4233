use std::time::Instant;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::http::observe;
use crate::{ApiError, ApiErrorKind, MeetingList, MeetingRequest, Secret, ZoomMeeting};

/// Whom an API call names as the host. User-managed grants must say `me`; account-level grants
/// (admin-managed, server-to-server) name a user of their account by id or email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserTarget {
    Me,
    User(String),
}

impl UserTarget {
    fn path_segment(&self) -> &str {
        match self {
            Self::Me => "me",
            Self::User(id) => id,
        }
    }
}

/// `GET /users/{userId}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ZoomUser {
    pub id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(rename = "type", default)]
    pub user_type: Option<i64>,
    #[serde(default)]
    pub timezone: Option<String>,
}

#[derive(Deserialize)]
struct ZakToken {
    token: Secret,
}

/// The Meetings API at one grant's `api_url`.
#[derive(Debug, Clone)]
pub struct ZoomApi {
    http: reqwest::Client,
    base: Url,
}

impl ZoomApi {
    /// `api_url` as Zoom gave it with the token (data-residency regions differ), without `/v2`.
    pub fn new(http: reqwest::Client, api_url: &str) -> Result<Self, url::ParseError> {
        let mut base = Url::parse(api_url)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http,
            base: base.join("v2/")?,
        })
    }

    #[tracing::instrument(skip_all, fields(target = ?target))]
    pub async fn get_user(
        &self,
        token: &Secret,
        target: &UserTarget,
    ) -> Result<ZoomUser, ApiError> {
        let path = format!("users/{}", encode(target.path_segment()));
        self.call("users.get", Method::GET, &path, token, None::<&()>, &[])
            .await
    }

    #[tracing::instrument(skip_all, fields(target = ?target))]
    pub async fn create_meeting(
        &self,
        token: &Secret,
        target: &UserTarget,
        request: &MeetingRequest,
    ) -> Result<ZoomMeeting, ApiError> {
        let path = format!("users/{}/meetings", encode(target.path_segment()));
        self.call(
            "meetings.create",
            Method::POST,
            &path,
            token,
            Some(request),
            &[],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(meeting_id))]
    pub async fn get_meeting(
        &self,
        token: &Secret,
        meeting_id: i64,
        occurrence_id: Option<&str>,
    ) -> Result<ZoomMeeting, ApiError> {
        let query: Vec<(&str, &str)> = occurrence_id
            .map(|o| vec![("occurrence_id", o)])
            .unwrap_or_default();
        let path = format!("meetings/{meeting_id}");
        self.call(
            "meetings.get",
            Method::GET,
            &path,
            token,
            None::<&()>,
            &query,
        )
        .await
    }

    /// The meeting's `start_url` alone: the same call as [`ZoomApi::get_meeting`], but the rest
    /// of Zoom's answer (a few KB of settings) is skipped instead of built into a value. A host
    /// start link makes this call on every click.
    #[tracing::instrument(skip_all, fields(meeting_id))]
    pub async fn get_start_url(
        &self,
        token: &Secret,
        meeting_id: i64,
    ) -> Result<Option<String>, ApiError> {
        #[derive(serde::Deserialize)]
        struct StartUrl {
            start_url: Option<String>,
        }
        let path = format!("meetings/{meeting_id}");
        let answer: StartUrl = self
            .call("meetings.get", Method::GET, &path, token, None::<&()>, &[])
            .await?;
        Ok(answer.start_url)
    }

    /// `type` is `scheduled`, `live`, `upcoming` or `previous_meetings`.
    #[tracing::instrument(skip_all, fields(target = ?target))]
    pub async fn list_meetings(
        &self,
        token: &Secret,
        target: &UserTarget,
        list_type: &str,
        page_size: u32,
        next_page_token: Option<&str>,
    ) -> Result<MeetingList, ApiError> {
        let page_size = page_size.clamp(1, 300).to_string();
        let mut query = vec![("type", list_type), ("page_size", page_size.as_str())];
        if let Some(token) = next_page_token.filter(|t| !t.is_empty()) {
            query.push(("next_page_token", token));
        }
        let path = format!("users/{}/meetings", encode(target.path_segment()));
        self.call(
            "meetings.list",
            Method::GET,
            &path,
            token,
            None::<&()>,
            &query,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(meeting_id))]
    pub async fn update_meeting(
        &self,
        token: &Secret,
        meeting_id: i64,
        occurrence_id: Option<&str>,
        request: &MeetingRequest,
    ) -> Result<(), ApiError> {
        let query: Vec<(&str, &str)> = occurrence_id
            .map(|o| vec![("occurrence_id", o)])
            .unwrap_or_default();
        let path = format!("meetings/{meeting_id}");
        self.call_no_content(
            "meetings.update",
            Method::PATCH,
            &path,
            token,
            Some(request),
            &query,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(meeting_id))]
    pub async fn delete_meeting(
        &self,
        token: &Secret,
        meeting_id: i64,
        occurrence_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let query: Vec<(&str, &str)> = occurrence_id
            .map(|o| vec![("occurrence_id", o)])
            .unwrap_or_default();
        let path = format!("meetings/{meeting_id}");
        self.call_no_content(
            "meetings.delete",
            Method::DELETE,
            &path,
            token,
            None::<&()>,
            &query,
        )
        .await
    }

    /// The host's ZAK (`GET /users/{userId}/token?type=zak`).
    #[tracing::instrument(skip_all, fields(target = ?target))]
    pub async fn get_zak(&self, token: &Secret, target: &UserTarget) -> Result<Secret, ApiError> {
        let path = format!("users/{}/token", encode(target.path_segment()));
        let zak: ZakToken = self
            .call(
                "users.token",
                Method::GET,
                &path,
                token,
                None::<&()>,
                &[("type", "zak")],
            )
            .await?;
        Ok(zak.token)
    }

    async fn send<B: serde::Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: &Secret,
        body: Option<&B>,
        query: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), ApiError> {
        let url = self.base.join(path).map_err(|e| ApiError {
            endpoint,
            kind: ApiErrorKind::Other,
            status: 0,
            code: None,
            message: format!("cannot build the request URL: {e}"),
        })?;
        let mut request = self.http.request(method, url).bearer_auth(token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| ApiError::transport(endpoint, &e))?;
        let status = response.status().as_u16();
        // Taken, not cloned: reading the body no longer needs them.
        let headers = std::mem::take(response.headers_mut());
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::transport(endpoint, &e))?;
        Ok((status, headers, body.to_vec()))
    }

    async fn call<T: DeserializeOwned, B: serde::Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: &Secret,
        body: Option<&B>,
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let result = async {
            let (status, headers, bytes) = self
                .send(endpoint, method, path, token, body, query)
                .await?;
            if (200..300).contains(&status) {
                // A 2xx whose body is not what we expected may be an error in disguise.
                return serde_json::from_slice::<T>(&bytes).map_err(|_| {
                    let mut error = ApiError::from_response(endpoint, status, &headers, &bytes);
                    if error.code.is_none() {
                        error.kind = ApiErrorKind::Transient {
                            maybe_applied: true,
                        };
                        error.message = "Zoom answered with a body that could not be read".into();
                    }
                    error
                });
            }
            Err(ApiError::from_response(endpoint, status, &headers, &bytes))
        }
        .await;
        observe(endpoint, outcome(&result), started);
        result
    }

    async fn call_no_content<B: serde::Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: &Secret,
        body: Option<&B>,
        query: &[(&str, &str)],
    ) -> Result<(), ApiError> {
        let started = Instant::now();
        let result = async {
            let (status, headers, bytes) = self
                .send(endpoint, method, path, token, body, query)
                .await?;
            if (200..300).contains(&status) {
                // Zoom has been seen answering 200 with an error body.
                if !bytes.is_empty()
                    && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                    && v.get("code").is_some()
                    && v.get("message").is_some()
                {
                    return Err(ApiError::from_response(endpoint, status, &headers, &bytes));
                }
                return Ok(());
            }
            Err(ApiError::from_response(endpoint, status, &headers, &bytes))
        }
        .await;
        observe(endpoint, outcome(&result), started);
        result
    }
}

fn outcome<T>(result: &Result<T, ApiError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => match e.kind {
            ApiErrorKind::TokenInvalid => "token_invalid",
            ApiErrorKind::MissingScopes { .. } => "missing_scopes",
            ApiErrorKind::UserNotFound | ApiErrorKind::UserNotInAccount => "user_error",
            ApiErrorKind::MeetingNotFound | ApiErrorKind::MeetingForbidden => "meeting_error",
            ApiErrorKind::Validation { .. } => "validation",
            ApiErrorKind::RateLimited { .. } => "rate_limited",
            ApiErrorKind::Transient { .. } => "transient",
            ApiErrorKind::Other => "other",
        },
    }
}

/// A user id or email as one path segment.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
