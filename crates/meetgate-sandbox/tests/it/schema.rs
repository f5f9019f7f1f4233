//! Every kind of response the sandbox produces, validated against Zoom's OpenAPI 3.0 spec.
//!
//! The spec is read from `shared/zoom-openapi/ZoomMeetingAPISpec.json` beside the workspace
//! (`MEETGATE_ZOOM_SPEC` overrides the path). A missing spec fails the test: no silent skip.

use std::path::PathBuf;
use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = std::env::var_os("MEETGATE_ZOOM_SPEC")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/zoom-openapi/ZoomMeetingAPISpec.json")
            });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("Zoom OpenAPI spec not readable at {}: {e}", path.display())
        });
        serde_json::from_str(&text).expect("spec is JSON")
    })
}

/// The JSON schema of `method path`'s response `status`.
fn response_schema(path: &str, method: &str, status: &str) -> &'static Value {
    let s = &spec()["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(
        s.is_object(),
        "spec has no schema for {method} {path} {status}"
    );
    s
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref");
            resolve(
                spec()
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}")),
            )
        }
        None => schema,
    }
}

/// A small, honest validator of the JSON Schema subset OpenAPI 3.0 uses here: `$ref`, `type`,
/// `nullable`, `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
/// `format` (date-time, email, int64/int32), `maxLength`, `minimum`/`maximum` (numbers only),
/// `maxItems`, `allOf`, `oneOf`, `anyOf`.
fn validate(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(schema);
    if value.is_null() {
        if schema.get("nullable") == Some(&Value::Bool(true)) || schema.get("type").is_none() {
            return;
        }
        errors.push(format!("{at}: null but not nullable"));
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(s, value, at, errors);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|s| {
                    let mut e = Vec::new();
                    validate(s, value, at, &mut e);
                    e.is_empty()
                })
                .count();
            if matching == 0 {
                errors.push(format!("{at}: matches none of {key}"));
            }
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("unknown type {other} at {at}"),
    };
    if !type_ok {
        errors.push(format!("{at}: expected {}, got {value}", ty.unwrap_or("?")));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} not in enum {allowed:?}"));
    }
    match value {
        Value::String(s) => {
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && s.chars().count() as u64 > max
            {
                errors.push(format!("{at}: longer than {max}"));
            }
            match schema.get("format").and_then(Value::as_str) {
                Some("date-time")
                    if time::OffsetDateTime::parse(
                        s,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .is_err() =>
                {
                    errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
                }
                Some("email") if !s.contains('@') => {
                    errors.push(format!("{at}: {s:?} is not an email"));
                }
                _ => {}
            }
        }
        Value::Number(n) => {
            if schema.get("format").and_then(Value::as_str) == Some("int32")
                && n.as_i64().is_none_or(|v| i32::try_from(v).is_err())
            {
                errors.push(format!("{at}: {n} is not int32"));
            }
            if let (Some(max), Some(v)) =
                (schema.get("maximum").and_then(Value::as_f64), n.as_f64())
                && v > max
            {
                errors.push(format!("{at}: {v} > maximum {max}"));
            }
            if let (Some(min), Some(v)) =
                (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
                && v < min
            {
                errors.push(format!("{at}: {v} < minimum {min}"));
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errors.push(format!("{at}: more than {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        errors.push(format!("{at}: missing required {r}"));
                    }
                }
            }
            for (k, v) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate(s, v, &format!("{at}.{k}"), errors),
                    None => {
                        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                            errors.push(format!("{at}: unexpected property {k}"));
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

fn assert_valid(schema: &Value, value: &Value, what: &str) {
    let mut errors = Vec::new();
    validate(schema, value, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{what} does not match Zoom's schema:\n{}\n{value:#}",
        errors.join("\n")
    );
}

/// Counts how many properties of `value` the schema actually describes, so a test cannot pass
/// by validating an object against an empty schema.
fn described(schema: &Value, value: &Value) -> usize {
    let props = resolve(schema).get("properties").and_then(Value::as_object);
    value
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| props.is_some_and(|p| p.contains_key(*k)))
                .count()
        })
        .unwrap_or(0)
}

/// ZOOM.md's error envelope; the OpenAPI spec describes errors in prose only.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message"],
        "additionalProperties": false,
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "message"], "additionalProperties": false,
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
            }}
        }
    })
}

#[test]
fn the_validator_rejects_type_mismatches() {
    let schema = response_schema("/meetings/{meetingId}", "get", "200");
    let mut errors = Vec::new();
    validate(
        schema,
        &json!({"id": "123", "settings": {"host_video": "yes"}, "status": "done"}),
        "$",
        &mut errors,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    let mut errors = Vec::new();
    validate(
        &json!({"type": "string", "nullable": true}),
        &Value::Null,
        "$",
        &mut errors,
    );
    assert!(errors.is_empty());
    validate(&json!({"type": "string"}), &Value::Null, "$", &mut errors);
    assert_eq!(errors.len(), 1);
}

#[tokio::test]
async fn every_response_kind_matches_the_spec() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;

    let (status, user) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::OK);
    let schema = response_schema("/users/{userId}", "get", "200");
    assert_valid(schema, &user, "GET /users/me");
    assert!(described(schema, &user) >= 15);

    let admin = s.s2s_token().await;
    let (_, other) = s
        .api(Method::GET, &format!("users/{GRACE}"), &admin, None)
        .await;
    assert_valid(schema, &other, "GET /users/{email}");

    let create_schema = response_schema("/users/{userId}/meetings", "post", "201");
    let get_schema = response_schema("/meetings/{meetingId}", "get", "200");
    let bodies = [
        json!({"topic": "Scheduled", "type": 2, "start_time": "2031-05-01T10:00:00Z", "duration": 30, "agenda": "Check-in",
               "settings": {"waiting_room": true, "approval_type": 2, "auto_recording": "none", "breakout_room": {"enable": false}},
               "tracking_fields": [{"field": "dept", "value": "cardio"}]}),
        json!({"topic": "Instant", "type": 1}),
        json!({"topic": "No fixed time", "type": 3}),
        json!({"topic": "Daily", "type": 8, "start_time": "2031-05-01T10:00:00Z", "recurrence": {"type": 1, "repeat_interval": 1, "end_times": 3}}),
        json!({"topic": "Weekly", "type": 8, "start_time": "2031-05-01T10:00:00Z", "recurrence": {"type": 2, "weekly_days": "5", "end_date_time": "2031-06-01T00:00:00Z"}}),
        json!({"topic": "Monthly", "type": 8, "start_time": "2031-05-01T10:00:00Z", "recurrence": {"type": 3, "monthly_week": -1, "monthly_week_day": 6, "end_times": 2}}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let created = s.create_meeting(&t.access, "me", body.clone()).await;
        assert_valid(create_schema, &created, &format!("create {body}"));
        let n = described(create_schema, &created);
        assert!(
            n >= 13,
            "only {n} properties were checked against the schema"
        );
        let id = created["id"].as_i64().expect("id");
        ids.push(id);
        let (status, got) = s
            .api(Method::GET, &format!("meetings/{id}"), &t.access, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_valid(get_schema, &got, &format!("get {body}"));
        if let Some(occ) = got["occurrences"].as_array().and_then(|o| o.first()) {
            let occ_id = occ["occurrence_id"].as_str().expect("occurrence id");
            let (status, one) = s
                .api(
                    Method::GET,
                    &format!("meetings/{id}?occurrence_id={occ_id}"),
                    &t.access,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_valid(get_schema, &one, "get one occurrence");
        }
    }
    s.ctl.start_meeting(ids[0]).await.expect("start");
    let (_, started) = s
        .api(
            Method::GET,
            &format!("meetings/{}", ids[0]),
            &t.access,
            None,
        )
        .await;
    assert_eq!(started["status"], "started");
    assert_valid(get_schema, &started, "get started meeting");

    let list_schema = response_schema("/users/{userId}/meetings", "get", "200");
    for q in ["", "?type=live", "?type=upcoming", "?page_size=2"] {
        let (status, list) = s
            .api(
                Method::GET,
                &format!("users/me/meetings{q}"),
                &t.access,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_valid(list_schema, &list, &format!("list{q}"));
    }

    let (status, zak) = s
        .api(Method::GET, "users/me/token?type=zak", &t.access, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_valid(
        response_schema("/users/{userId}/token", "get", "200"),
        &zak,
        "zak",
    );

    // Error bodies: every kind the API produces.
    let errors = error_schema();
    let cases = [
        s.api(Method::GET, "users/me", "expired-or-bogus", None)
            .await,
        s.api(
            Method::POST,
            &format!("users/{ADA_ID}/meetings"),
            &t.access,
            Some(json!({})),
        )
        .await,
        s.api(Method::GET, "meetings/12345678901", &t.access, None)
            .await,
        s.api(
            Method::POST,
            "users/me/meetings",
            &t.access,
            Some(json!({"type": 9})),
        )
        .await,
        s.api(Method::GET, &format!("users/{BARBARA_ID}"), &admin, None)
            .await,
        s.api(Method::GET, "users/ghost@nowhere.example", &admin, None)
            .await,
    ];
    let codes: Vec<i64> = cases
        .iter()
        .map(|(_, e)| e["code"].as_i64().expect("code"))
        .collect();
    assert_eq!(codes, vec![124, 4700, 3001, 300, 1010, 1001]);
    for (status, e) in &cases {
        assert!(status.is_client_error());
        assert_valid(&errors, e, "error body");
    }
}
