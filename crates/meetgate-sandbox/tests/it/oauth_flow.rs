//! The OAuth server: consent, codes, PKCE, refresh rotation, one grant per (user, app).

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RequestTokenError, TokenResponse, TokenUrl,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::common::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[tokio::test]
async fn full_flow_with_the_oauth2_crate() {
    let s = start().await;
    let client = BasicClient::new(ClientId::new(USER_APP.0.into()))
        .set_client_secret(ClientSecret::new(USER_APP.1.into()))
        .set_auth_uri(AuthUrl::from_url(s.url("oauth/authorize")))
        .set_token_uri(TokenUrl::from_url(s.url("oauth/token")))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
    let http = client_no_redirects();

    // Consent through the real HTML form.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let back = s
        .ctl
        .authorize_headless(&auth_url, ADA, PASSWORD)
        .await
        .expect("consent");
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let code = query_param(&back, "code").expect("code");

    let first = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    assert_eq!(first.expires_in(), Some(Duration::from_secs(3599)));
    let scopes: Vec<String> = first
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(scopes.contains(&"meeting:write".to_owned()), "{scopes:?}");
    let access = first.access_token().secret().clone();

    // Meetings: create, get, list, update, delete.
    let (status, me) = s.api(Method::GET, "users/me", &access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], ADA_ID);
    let created = s
        .create_meeting(&access, "me", json!({"topic": "Follow-up", "type": 2, "start_time": "2031-05-01T10:00:00Z", "duration": 30}))
        .await;
    let id = created["id"].as_i64().expect("int64 id");
    assert_eq!(created["host_id"], ADA_ID);
    let (status, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &access, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["topic"], "Follow-up");
    assert_eq!(got["status"], "waiting");
    let (status, list) = s.api(Method::GET, "users/me/meetings", &access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total_records"], 1);
    assert_eq!(list["meetings"][0]["id"], id);
    let (status, body) = s
        .api(
            Method::PATCH,
            &format!("meetings/{id}"),
            &access,
            Some(json!({"topic": "Renamed", "duration": 45})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    let (_, got) = s
        .api(Method::GET, &format!("meetings/{id}"), &access, None)
        .await;
    assert_eq!(got["topic"], "Renamed");
    assert_eq!(got["duration"], 45);
    let (status, _) = s
        .api(Method::DELETE, &format!("meetings/{id}"), &access, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = s
        .api(Method::GET, &format!("meetings/{id}"), &access, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], 3001);

    // Refresh rotates: the old refresh token is dead at once.
    let old_refresh = first.refresh_token().expect("refresh").clone();
    let second = client
        .exchange_refresh_token(&old_refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        second.refresh_token().expect("new").secret(),
        old_refresh.secret()
    );
    let err = client
        .exchange_refresh_token(&old_refresh)
        .request_async(&http)
        .await
        .expect_err("reused refresh token");
    match err {
        RequestTokenError::ServerResponse(r) => {
            assert_eq!(*r.error(), BasicErrorResponseType::InvalidGrant)
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    let (status, _) = s
        .api(
            Method::GET,
            "users/me",
            second.access_token().secret(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let counters = s.ctl.counters().await.expect("counters");
    assert_eq!(counters.refreshes_of(ADA_ID, USER_APP.0), 1);
    assert_eq!(counters.invalid_grants_of(ADA_ID, USER_APP.0), 1);
    assert_eq!(counters.invalid_grants_for_grant_type("refresh_token"), 1);
    assert_eq!(counters.token_requests_of("authorization_code"), 1);
    assert_eq!(counters.token_requests_of("refresh_token"), 2);
    assert_eq!(counters.meetings_created_by(ADA_ID), 1);
    assert_eq!(counters.calls("meetings.create", 201), 1);

    // A second authorization by the same user kills the first grant's tokens.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let back = s
        .ctl
        .authorize_headless(&auth_url, ADA, PASSWORD)
        .await
        .expect("consent");
    let third = client
        .exchange_code(AuthorizationCode::new(
            query_param(&back, "code").expect("code"),
        ))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("second authorization");
    let (status, err) = s
        .api(
            Method::GET,
            "users/me",
            second.access_token().secret(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], 124);
    let err = client
        .exchange_refresh_token(second.refresh_token().expect("refresh"))
        .request_async(&http)
        .await
        .expect_err("superseded grant");
    assert!(
        matches!(err, RequestTokenError::ServerResponse(ref r) if *r.error() == BasicErrorResponseType::InvalidGrant)
    );
    let (status, _) = s
        .api(Method::GET, "users/me", third.access_token().secret(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let grants = s.ctl.grants().await.expect("grants");
    let states: Vec<&str> = grants.iter().map(|g| g.state.as_str()).collect();
    assert_eq!(states, vec!["superseded", "live"]);
    s.running.shutdown().await;
}

fn client_no_redirects() -> reqwest::Client {
    client()
}

#[tokio::test]
async fn token_response_carries_api_url_and_no_store() {
    let s = start().await;
    let (verifier, challenge) = pkce_pair("api-url");
    let code = s.code(USER_APP.0, ADA, Some(&challenge)).await;
    let resp = s
        .http
        .post(s.url("oauth/token"))
        .header("authorization", basic(USER_APP))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let raw: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(raw["token_type"], "bearer");
    assert_eq!(raw["expires_in"], 3599);
    assert_eq!(
        raw["scope"],
        "meeting:read meeting:write user:read user_info:read"
    );
    assert_eq!(raw["api_url"], s.base.as_str().trim_end_matches('/'));
}

#[tokio::test]
async fn codes_are_single_use_and_expire_after_five_minutes() {
    let s = start().await;
    let (verifier, challenge) = pkce_pair("reuse");
    let code = s.code(USER_APP.0, ADA, Some(&challenge)).await;
    let (status, first) = s.exchange(USER_APP, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = s.exchange(USER_APP, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    // Replaying a code also revokes what it issued (RFC 6749 section 10.5).
    let (status, _) = s
        .api(
            Method::GET,
            "users/me",
            first["access_token"].as_str().expect("t"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let code = s.code(USER_APP.0, ADA, Some(&challenge)).await;
    s.ctl
        .advance_clock(Duration::from_secs(300))
        .await
        .expect("advance");
    let (status, err) = s.exchange(USER_APP, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(err["reason"], "Authorization code has expired");

    // Just under five minutes still works.
    let code = s.code(USER_APP.0, ADA, Some(&challenge)).await;
    s.ctl
        .advance_clock(Duration::from_secs(290))
        .await
        .expect("advance");
    let (status, _) = s.exchange(USER_APP, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let c = s.ctl.counters().await.expect("counters");
    assert_eq!(c.invalid_grants_for_grant_type("authorization_code"), 2);
}

#[tokio::test]
async fn pkce_is_verified_s256_and_plain() {
    let s = start().await;
    let (verifier, challenge) = pkce_pair("pkce");
    let code = s.code(USER_APP.0, ADA, Some(&challenge)).await;
    let (status, err) = s
        .exchange(
            USER_APP,
            &code,
            "verifier-wrong-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(err["reason"], "Invalid code_verifier");
    // The failed attempt used the code up.
    let (status, _) = s.exchange(USER_APP, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A verifier that matches its challenge but is too short to be one (RFC 7636 §4.1).
    let short = "only-20-characters-x";
    let code = s
        .code(
            USER_APP.0,
            ADA,
            Some(&URL_SAFE_NO_PAD.encode(Sha256::digest(short.as_bytes()))),
        )
        .await;
    let (status, err) = s.exchange(USER_APP, &code, short).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant", "{err}");

    // Missing verifier when a challenge was sent.
    let code = s.code(USER_APP.0, ADA, Some(&challenge)).await;
    let (status, err) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_request");

    // plain
    let plain = "plain-verifier-0123456789-0123456789-0123456789";
    let mut url = s.authorize_url(USER_APP.0, REDIRECT, None, "p");
    url.query_pairs_mut()
        .append_pair("code_challenge", plain)
        .append_pair("code_challenge_method", "plain");
    let back = s
        .ctl
        .authorize_headless(&url, ADA, PASSWORD)
        .await
        .expect("consent");
    let code = query_param(&back, "code").expect("code");
    let (status, _) = s.exchange(USER_APP, &code, plain).await;
    assert_eq!(status, StatusCode::OK);

    // Unknown transform.
    let mut url = s.authorize_url(USER_APP.0, REDIRECT, None, "p");
    url.query_pairs_mut()
        .append_pair("code_challenge", plain)
        .append_pair("code_challenge_method", "S512");
    let back = s
        .ctl
        .authorize_headless(&url, ADA, PASSWORD)
        .await
        .expect("redirect");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn redirect_uri_must_match_exactly() {
    let s = start().await;
    for bad in [
        "http://127.0.0.1:8765/oauth/callback/extra",
        "http://127.0.0.1:8765/oauth/callback?x=1",
        "https://evil.example/oauth/callback",
        "http://127.0.0.1:8765/OAuth/callback",
    ] {
        let url = s.authorize_url(USER_APP.0, bad, None, "st");
        let resp = s.http.get(url).send().await.expect("authorize");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            resp.headers().get("location").is_none(),
            "never redirect to {bad}"
        );
        let page = resp.text().await.expect("page");
        assert!(page.contains("4709"), "{page}");
    }
    // An app registered with one exact URI accepts only that one.
    s.ctl
        .set_app_redirect_uris(
            USER_APP.0,
            vec!["http://127.0.0.1:4242/oauth/callback".into()],
        )
        .await
        .expect("set uris");
    let ok = s.authorize_url(
        USER_APP.0,
        "http://127.0.0.1:4242/oauth/callback",
        None,
        "st",
    );
    let back = s
        .ctl
        .authorize_headless(&ok, ADA, PASSWORD)
        .await
        .expect("consent");
    assert!(
        back.as_str()
            .starts_with("http://127.0.0.1:4242/oauth/callback?code=")
    );
    let other_port = s.authorize_url(
        USER_APP.0,
        "http://127.0.0.1:4243/oauth/callback",
        None,
        "st",
    );
    let resp = s.http.get(other_port).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // The token request must repeat the redirect URI of the authorization.
    let code = query_param(&back, "code").expect("code");
    let (status, err) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["reason"], "Redirect URI mismatch.");
}

#[tokio::test]
async fn deny_returns_access_denied() {
    let s = start().await;
    let url = s.authorize_url(USER_APP.0, REDIRECT, None, "deny-state");
    let back = s.ctl.deny_headless(&url).await.expect("deny");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("deny-state"));
    assert!(query_param(&back, "code").is_none());
}

#[tokio::test]
async fn authorize_errors_follow_zoom() {
    let s = start().await;
    let url = s.authorize_url("noSuchClient", REDIRECT, None, "st");
    let resp = s.http.get(url).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("page").contains("4702"));

    let mut url = s.authorize_url(USER_APP.0, REDIRECT, None, "st");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "response_type" {
                "token".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = s.http.get(url).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.contains("error=unsupported_response_type"),
        "{location}"
    );

    // Server-to-server apps cannot be authorized by users.
    let url = s.authorize_url(S2S_APP.0, REDIRECT, None, "st");
    let resp = s.http.get(url).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Wrong password keeps the user on the consent page.
    let url = s.authorize_url(USER_APP.0, REDIRECT, None, "st");
    let err = s
        .ctl
        .authorize_headless(&url, ADA, "wrong")
        .await
        .expect_err("wrong password");
    assert!(
        err.to_string().contains("Incorrect email or password"),
        "{err}"
    );

    // A member cannot install an admin-managed app.
    let url = s.authorize_url(ADMIN_APP.0, REDIRECT, None, "st");
    let err = s
        .ctl
        .authorize_headless(&url, GRACE, PASSWORD)
        .await
        .expect_err("member");
    assert!(err.to_string().contains("owner or admin"), "{err}");
}

#[tokio::test]
async fn token_endpoint_errors() {
    let s = start().await;
    let (status, err) = s
        .token_request(
            (USER_APP.0, "wrong-secret"),
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_client");
    let resp = s
        .http
        .post(s.url("oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", USER_APP.0),
            ("client_secret", USER_APP.1),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "credentials in the body are refused"
    );
    let (status, err) = s
        .token_request(USER_APP, &[("grant_type", "password")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "unsupported_grant_type");
    let (status, err) = s
        .token_request(
            USER_APP,
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err,
        json!({"reason": "Invalid Token!", "error": "invalid_grant"})
    );
    let (status, err) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "account_credentials"),
                ("account_id", RIVERSIDE),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["error"], "unsupported_grant_type",
        "4705: not for this app type"
    );
    let (status, err) = s
        .token_request(
            S2S_APP,
            &[("grant_type", "account_credentials"), ("account_id", OTHER)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_request");
    let (status, ok) = s
        .token_request(
            S2S_APP,
            &[
                ("grant_type", "account_credentials"),
                ("account_id", RIVERSIDE),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ok.get("refresh_token").is_none(),
        "server-to-server has no refresh token"
    );
}

#[tokio::test]
async fn revoke_ends_the_grant() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let resp = s
        .http
        .post(s.url("oauth/revoke"))
        .header("authorization", basic(USER_APP))
        .form(&[("token", t.access.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<serde_json::Value>().await.expect("json"),
        json!({"status": "success"})
    );
    let (status, err) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], 124);
    let (status, err) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    let grants = s.ctl.grants().await.expect("grants");
    assert_eq!(grants[0].state, "revoked");
}

/// Zoom revokes with the access token ("Revoking an Access Token": `token=[ACCESS TOKEN]`): a
/// refresh token, current or rotated out, is refused and leaves the grant alive, as does an
/// expired access token.
#[tokio::test]
async fn only_a_live_access_token_revokes() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    let (status, fresh) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let revoke = |token: String| {
        let request = s
            .http
            .post(s.url("oauth/revoke"))
            .header("authorization", basic(USER_APP))
            .form(&[("token", token)]);
        async move {
            let resp = request.send().await.expect("revoke");
            let status = resp.status();
            (
                status,
                resp.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let current_refresh = fresh["refresh_token"].as_str().expect("refresh").to_owned();
    let current_access = fresh["access_token"].as_str().expect("access").to_owned();
    for token in [
        t.refresh.clone(),
        current_refresh.clone(),
        "not-a-token".to_owned(),
    ] {
        let (status, err) = revoke(token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["reason"], "Invalid Token!", "{err}");
        assert_eq!(s.ctl.grants().await.expect("grants")[0].state, "live");
    }
    // An access token that has expired cannot revoke either.
    s.ctl
        .advance_clock(Duration::from_secs(3600))
        .await
        .expect("advance");
    let (status, err) = revoke(current_access).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(s.ctl.grants().await.expect("grants")[0].state, "live");
    // A live one does, and ends the whole grant: its refresh token is dead too.
    let (status, renewed) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &current_refresh),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (status, _) = revoke(renewed["access_token"].as_str().expect("access").to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.ctl.grants().await.expect("grants")[0].state, "revoked");
    let (status, err) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    renewed["refresh_token"].as_str().expect("refresh"),
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_die_after_ninety_days_unused() {
    let s = start().await;
    let t = s.user_tokens(USER_APP, ADA).await;
    s.ctl
        .advance_clock(Duration::from_secs(89 * 86400))
        .await
        .expect("advance");
    let (status, fresh) = s
        .token_request(
            USER_APP,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.refresh),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refreshing within 90 days keeps the grant alive"
    );
    let next = fresh["refresh_token"].as_str().expect("refresh").to_owned();
    s.ctl
        .advance_clock(Duration::from_secs(90 * 86400))
        .await
        .expect("advance");
    let (status, err) = s
        .token_request(
            USER_APP,
            &[("grant_type", "refresh_token"), ("refresh_token", &next)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn access_token_lifetime_is_configurable() {
    let s = start_with(meetgate_sandbox::SandboxConfig {
        access_token_ttl: Duration::from_secs(60),
        ..meetgate_sandbox::SandboxConfig::default()
    })
    .await;
    let t = s.user_tokens(USER_APP, ADA).await;
    assert_eq!(t.raw["expires_in"], 60);
    s.ctl
        .advance_clock(Duration::from_secs(61))
        .await
        .expect("advance");
    let (status, err) = s.api(Method::GET, "users/me", &t.access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], 124);
}
