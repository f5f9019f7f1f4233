//! Fault injection and per-endpoint counting, as one middleware around Zoom-facing routes.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::control::dto::{FaultInfo, FaultKind, FaultSpec};
use crate::endpoint::Endpoint;
use crate::state::{SandboxState, lock};

#[derive(Debug)]
struct Active {
    id: u64,
    spec: FaultSpec,
    endpoint: Option<Endpoint>,
    remaining: Option<u32>,
    rng: StdRng,
    applied: u64,
}

#[derive(Debug, Default)]
pub struct Faults {
    active: Vec<Active>,
    next_id: u64,
}

/// What to do to one call.
#[derive(Debug, Default)]
pub struct Decision {
    pub latency: Duration,
    pub terminal: Option<(FaultKind, bool)>,
}

impl Faults {
    pub fn add(&mut self, mut spec: FaultSpec) -> Result<u64, String> {
        if spec.kind == FaultKind::TokenOutage {
            match spec.endpoint.as_deref() {
                None => spec.endpoint = Some(Endpoint::OauthToken.name().to_owned()),
                Some("oauth.token") => {}
                Some(other) => {
                    return Err(format!("token_outage applies to oauth.token, not {other}"));
                }
            }
        }
        let endpoint = match spec.endpoint.as_deref() {
            None => None,
            Some(name) => Some(
                Endpoint::from_name(name).ok_or_else(|| format!("unknown endpoint {name:?}"))?,
            ),
        };
        if let Some(p) = spec.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err("probability must be within 0.0..=1.0".into());
        }
        match &spec.kind {
            FaultKind::Status { status }
            | FaultKind::Xml { status }
            | FaultKind::ZoomError { status, .. }
                if StatusCode::from_u16(*status).is_err() =>
            {
                return Err(format!("invalid HTTP status {status}"));
            }
            FaultKind::Redirect { status, location } => {
                if !(300..400).contains(status) {
                    return Err(format!("redirect status must be 3xx, not {status}"));
                }
                if HeaderValue::from_str(location).is_err() {
                    return Err("redirect location is not a valid header value".into());
                }
            }
            _ => {}
        }
        self.next_id += 1;
        let id = self.next_id;
        self.active.push(Active {
            id,
            rng: StdRng::seed_from_u64(spec.seed.unwrap_or(0)),
            remaining: spec.count,
            endpoint,
            spec,
            applied: 0,
        });
        Ok(id)
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.active.len();
        self.active.retain(|f| f.id != id);
        before != self.active.len()
    }

    pub fn list(&self) -> Vec<FaultInfo> {
        self.active
            .iter()
            .map(|f| FaultInfo {
                id: f.id,
                spec: f.spec.clone(),
                applied: f.applied,
            })
            .collect()
    }

    /// Latencies add up; the first matching terminal fault wins. Spent faults are dropped.
    pub fn decide(&mut self, endpoint: Endpoint) -> Decision {
        let mut d = Decision::default();
        for f in &mut self.active {
            if f.endpoint.is_some_and(|e| e != endpoint) {
                continue;
            }
            let is_latency = matches!(f.spec.kind, FaultKind::Latency { .. });
            if !is_latency && d.terminal.is_some() {
                continue;
            }
            if f.remaining == Some(0) {
                continue;
            }
            let p = f.spec.probability.unwrap_or(1.0);
            if p < 1.0 && f.rng.r#gen::<f64>() >= p {
                continue;
            }
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            f.applied += 1;
            match &f.spec.kind {
                FaultKind::Latency { ms } => d.latency += Duration::from_millis(*ms),
                kind => d.terminal = Some((kind.clone(), f.spec.after_work)),
            }
        }
        self.active.retain(|f| f.remaining != Some(0));
        d
    }
}

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_owned(),
    )
        .into_response()
}

fn faulted(kind: &FaultKind, endpoint: Endpoint, now: time::OffsetDateTime) -> Response {
    match kind {
        FaultKind::Status { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if endpoint.is_oauth() {
                json(status, r#"{"reason":"Internal Error","error":"server_error"}"#)
            } else {
                let body = serde_json::json!({"code": status.as_u16(), "message": "Internal Error"});
                json(status, &body.to_string())
            }
        }
        FaultKind::RateLimited => {
            let mut r = json(
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."}"#,
            );
            let category = endpoint.category().map_or("Light", |c| c.label());
            let h = r.headers_mut();
            h.insert("x-ratelimit-category", HeaderValue::from_static(category));
            h.insert("x-ratelimit-type", HeaderValue::from_static("QPS"));
            h.insert("x-ratelimit-limit", HeaderValue::from_static("30"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            r
        }
        FaultKind::DailyLimit => {
            let retry_after = crate::ratelimit::next_reset(now);
            crate::api::limited(
                &crate::ratelimit::Limited::Daily {
                    limit: crate::ratelimit::DAILY_LIMIT,
                    retry_after,
                },
                endpoint.category().unwrap_or(crate::endpoint::Category::Medium),
            )
            .into_response()
        }
        FaultKind::MalformedJson => json(StatusCode::OK, r#"{"id":8123456789,"topic":"Trunc"#),
        FaultKind::Xml { status } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/xml;charset=UTF-8")],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><code>{status}</code><message>Internal Error</message></error>"
            ),
        )
            .into_response(),
        FaultKind::ErrorInOk { code, message } => {
            let body = serde_json::json!({"code": code, "message": message});
            json(StatusCode::OK, &body.to_string())
        }
        FaultKind::ZoomError {
            status,
            code,
            error,
            message,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = if endpoint.is_oauth() {
                serde_json::json!({"reason": message, "error": error.as_deref().unwrap_or("server_error")})
            } else {
                serde_json::json!({"code": code.unwrap_or(i64::from(status.as_u16())), "message": message})
            };
            json(status, &body.to_string())
        }
        FaultKind::TokenOutage => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
            "<html><head><title>503 Service Temporarily Unavailable</title></head>\
             <body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>",
        )
            .into_response(),
        FaultKind::Redirect { status, location } => {
            let mut r = StatusCode::from_u16(*status)
                .unwrap_or(StatusCode::FOUND)
                .into_response();
            if let Ok(v) = HeaderValue::from_str(location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        FaultKind::Latency { .. } | FaultKind::TimeoutAfterWork { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts every Zoom-facing call by endpoint and final status, and applies faults.
pub async fn observe(State(state): State<SandboxState>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| Endpoint::from_route(req.method(), p.as_str()));
    let Some(endpoint) = endpoint else {
        return next.run(req).await;
    };
    let decision = lock(&state.faults).decide(endpoint);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let response = match decision.terminal {
        None => next.run(req).await,
        Some((FaultKind::TimeoutAfterWork { hold_ms }, _)) => {
            let resp = next.run(req).await;
            // Buffer the body so the work is complete before the hold starts.
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            tokio::time::sleep(Duration::from_millis(hold_ms)).await;
            Response::from_parts(parts, Body::from(bytes))
        }
        Some((kind, true)) => {
            let resp = next.run(req).await;
            let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
            faulted(&kind, endpoint, state.now())
        }
        Some((kind, false)) => faulted(&kind, endpoint, state.now()),
    };
    *state
        .counters()
        .endpoints
        .entry(endpoint.name().to_owned())
        .or_default()
        .entry(response.status().as_u16())
        .or_insert(0) += 1;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_limits_and_removes() {
        let mut f = Faults::default();
        f.add(
            FaultSpec::new(FaultKind::Status { status: 503 })
                .on("meetings.create")
                .times(2),
        )
        .expect("added");
        assert!(f.decide(Endpoint::MeetingsGet).terminal.is_none());
        assert!(f.decide(Endpoint::MeetingsCreate).terminal.is_some());
        assert!(f.decide(Endpoint::MeetingsCreate).terminal.is_some());
        assert!(f.decide(Endpoint::MeetingsCreate).terminal.is_none());
        assert!(f.list().is_empty());
    }

    #[test]
    fn probability_is_seeded() {
        let run = || {
            let mut f = Faults::default();
            f.add(
                FaultSpec::new(FaultKind::RateLimited)
                    .probability(0.5)
                    .seed(7),
            )
            .expect("added");
            (0..40)
                .map(|_| f.decide(Endpoint::MeetingsGet).terminal.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|x| **x).count();
        assert!((8..=32).contains(&hits), "{hits} of 40");
    }

    #[test]
    fn token_outage_targets_the_token_endpoint() {
        let mut f = Faults::default();
        f.add(FaultSpec::new(FaultKind::TokenOutage))
            .expect("added");
        assert!(f.decide(Endpoint::MeetingsGet).terminal.is_none());
        assert!(f.decide(Endpoint::OauthToken).terminal.is_some());
        assert!(
            f.add(FaultSpec::new(FaultKind::TokenOutage).on("meetings.get"))
                .is_err()
        );
    }
}
