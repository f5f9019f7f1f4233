//! Shared helpers: start a sandbox, run the OAuth dance over HTTP, call the API.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use meetgate_sandbox::{RunningSandbox, SandboxConfig, SandboxControl};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

pub const PASSWORD: &str = "sandbox";
pub const ADA_ID: &str = "KDcuGIm1QgePTO8WbOqwIQ";
pub const ADA: &str = "dr.ada@riverside.example";
pub const GRACE_ID: &str = "Ux8bRz3YQk2Wf7nLpA5s0g";
pub const GRACE: &str = "dr.grace@riverside.example";
pub const BARBARA_ID: &str = "Pq1LsXe8TgWk3Ry5Zn7VbQ";
pub const BARBARA: &str = "dr.barbara@otherpractice.example";
pub const RIVERSIDE: &str = "rVd3kXq9T8ymQ1ZbLc4wHA";
pub const OTHER: &str = "oP7mWn2sRf5uJ0dXa8eKtg";

pub const USER_APP: (&str, &str) = ("sbxUserManagedClient01", "sbx-user-managed-secret-0001");
pub const ADMIN_APP: (&str, &str) = ("sbxAdminManagedClient01", "sbx-admin-managed-secret-0001");
pub const S2S_APP: (&str, &str) = (
    "sbxServerToServerClient01",
    "sbx-server-to-server-secret-0001",
);
pub const GRANULAR_APP: (&str, &str) = ("sbxGranularUserClient01", "sbx-granular-user-secret-0001");

pub const REDIRECT: &str = "http://127.0.0.1:8765/oauth/callback";

pub struct Sbx {
    pub running: RunningSandbox,
    pub ctl: SandboxControl,
    pub http: reqwest::Client,
    pub base: Url,
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub raw: Value,
}

pub async fn start() -> Sbx {
    start_with(SandboxConfig::default()).await
}

pub async fn start_with(config: SandboxConfig) -> Sbx {
    let running = meetgate_sandbox::spawn(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sandbox starts");
    let base = running.base_url().clone();
    Sbx {
        ctl: running.control(),
        http: client(),
        base,
        running,
    }
}

/// A client that, like a careful OAuth client, never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn pkce_pair(seed: &str) -> (String, String) {
    // Only RFC 7636's characters: an email's `@` would make it no verifier at all.
    let seed = seed.replace(
        |c: char| !(c.is_ascii_alphanumeric() || "-._~".contains(c)),
        "-",
    );
    let verifier = format!("verifier-{seed}-{}", "x".repeat(40));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn basic(client: (&str, &str)) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", client.0, client.1))
    )
}

pub fn query_param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl Sbx {
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path.trim_start_matches('/')).expect("url")
    }

    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect: &str,
        challenge: Option<&str>,
        state: &str,
    ) -> Url {
        let mut url = self.url("oauth/authorize");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", redirect)
                .append_pair("state", state);
            if let Some(c) = challenge {
                q.append_pair("code_challenge", c)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url
    }

    /// Consent as `email`, returning the code.
    pub async fn code(&self, client_id: &str, email: &str, challenge: Option<&str>) -> String {
        let url = self.authorize_url(client_id, REDIRECT, challenge, "st");
        let back = self
            .ctl
            .authorize_headless(&url, email, PASSWORD)
            .await
            .expect("consent");
        query_param(&back, "code").expect("code in redirect")
    }

    pub async fn token_request(
        &self,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("oauth/token"))
            .header("authorization", basic(client))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn exchange(
        &self,
        client: (&str, &str),
        code: &str,
        verifier: &str,
    ) -> (StatusCode, Value) {
        self.token_request(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// The whole user flow: consent as `email`, code exchange with PKCE.
    pub async fn user_tokens(&self, client: (&str, &str), email: &str) -> Tokens {
        let (verifier, challenge) = pkce_pair(email);
        let code = self.code(client.0, email, Some(&challenge)).await;
        let (status, raw) = self.exchange(client, &code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{raw}");
        Tokens {
            access: raw["access_token"].as_str().expect("access").to_owned(),
            refresh: raw["refresh_token"].as_str().expect("refresh").to_owned(),
            raw,
        }
    }

    pub async fn s2s_token(&self) -> String {
        let (status, raw) = self
            .token_request(
                S2S_APP,
                &[
                    ("grant_type", "account_credentials"),
                    ("account_id", RIVERSIDE),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{raw}");
        raw["access_token"].as_str().expect("access").to_owned()
    }

    pub async fn api_full(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self
            .http
            .request(
                method,
                self.url(&format!("v2/{}", path.trim_start_matches('/'))),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("api call");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, headers, value)
    }

    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self.api_full(method, path, token, body).await;
        (s, v)
    }

    pub async fn create_meeting(&self, token: &str, user: &str, body: Value) -> Value {
        let (status, v) = self
            .api(
                Method::POST,
                &format!("users/{user}/meetings"),
                token,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }
}
