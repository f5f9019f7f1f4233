//! Worlds from TOML seeds and from the control API.

use meetgate_sandbox::{SandboxConfig, World};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

const SEED: &str = r#"
[[accounts]]
id = "acctFreeClinic000000001"
name = "Free Clinic"
plan = "free"

[[users]]
id = "usrFreeDoctor0000000001"
email = "Doc@Free.Example"
password = "s3cret"
first_name = "Free"
last_name = "Doctor"
account_id = "acctFreeClinic000000001"
type = 1
role = "owner"

[[apps]]
client_id = "freeApp"
client_secret = "free-secret"
name = "Free app"
type = "user_managed"
scopes = ["meeting:write:meeting", "meeting:read:meeting", "user:read:user"]
granular = true
redirect_uris = ["http://127.0.0.1:8765/oauth/callback"]
owner_account_id = "acctFreeClinic000000001"
webhook_secret_token = "free-webhook"
"#;

#[tokio::test]
async fn a_world_seeded_from_toml() {
    let world = World::from_toml_str(SEED).expect("seed parses");
    let s = start_with(SandboxConfig {
        world,
        ..SandboxConfig::default()
    })
    .await;
    let (verifier, challenge) = pkce_pair("toml");
    let url = s.authorize_url("freeApp", REDIRECT, Some(&challenge), "st");
    // Emails match case-insensitively, as at Zoom.
    let back = s
        .ctl
        .authorize_headless(&url, "doc@free.example", "s3cret")
        .await
        .expect("consent");
    let code = query_param(&back, "code").expect("code");
    let (status, tokens) = s
        .exchange(("freeApp", "free-secret"), &code, &verifier)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access");
    let (status, me) = s.api(Method::GET, "users/me", access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["type"], 1);
    assert_eq!(me["account_id"], "acctFreeClinic000000001");
    s.create_meeting(access, "me", json!({})).await;
    // The default seed's apps are not part of this world.
    let url = s.authorize_url(USER_APP.0, REDIRECT, None, "st");
    assert_eq!(
        s.http.get(url).send().await.expect("authorize").status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn invalid_seeds_are_refused() {
    assert!(World::from_toml_str("[[accounts]]\nid = 1").is_err());
    let dangling = SEED.replace(
        "owner_account_id = \"acctFreeClinic000000001\"",
        "owner_account_id = \"nope\"",
    );
    assert!(World::from_toml_str(&dangling).is_err());
    let mixed = SEED.replace("\"user:read:user\"]", "\"user:read\"]");
    assert!(
        World::from_toml_str(&mixed).is_err(),
        "classic and granular scopes do not mix"
    );
    let unknown_field = format!(
        "{SEED}\n[[accounts]]\nid = \"x\"\nname = \"x\"\nplan = \"pro\"\ncolour = \"red\"\n"
    );
    assert!(World::from_toml_str(&unknown_field).is_err());
}

#[tokio::test]
async fn the_control_api_reports_and_extends_the_world() {
    let s = start().await;
    let world = s.ctl.world().await.expect("world");
    assert_eq!(world, World::default_seed());
    let app = s
        .ctl
        .add_app(meetgate_sandbox::NewApp {
            client_id: None,
            client_secret: None,
            name: "Runtime app".into(),
            app_type: meetgate_sandbox::AppType::ServerToServer,
            scopes: vec!["meeting:write:admin".into()],
            granular: false,
            redirect_uris: vec![],
            owner_account_id: OTHER.into(),
            webhook_secret_token: None,
            webhook_events: vec![],
        })
        .await
        .expect("app");
    let (status, tok) = s
        .token_request(
            (&app.client_id, app.client_secret.expose()),
            &[("grant_type", "account_credentials"), ("account_id", OTHER)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let m = s
        .create_meeting(
            tok["access_token"].as_str().expect("access"),
            BARBARA,
            json!({"topic": "other practice"}),
        )
        .await;
    assert_eq!(m["host_id"], BARBARA_ID);
    // Missing scope for reading: the message names the admin scope.
    let (status, err) = s
        .api(
            Method::GET,
            &format!("meetings/{}", m["id"]),
            tok["access_token"].as_str().expect("access"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        err["message"],
        "Invalid access token, does not contain scopes: [meeting:read:admin]"
    );
    let dup = s
        .ctl
        .add_user(meetgate_sandbox::NewUser {
            id: None,
            email: ADA.to_uppercase(),
            password: meetgate_sandbox::Secret::new("x"),
            account_id: RIVERSIDE.into(),
            first_name: String::new(),
            last_name: String::new(),
            user_type: None,
            role: meetgate_sandbox::Role::Member,
            timezone: None,
        })
        .await;
    assert!(dup.is_err(), "emails are unique regardless of case");
}
