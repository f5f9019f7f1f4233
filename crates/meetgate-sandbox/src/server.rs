//! Routing, and running a sandbox in the current tokio runtime.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::api::{meetings, users};
use crate::client::SandboxControl;
use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::faults;
use crate::oauth::{authorize, revoke, token};
use crate::pages::{self, account, room};
use crate::state::SandboxState;

/// Every route of the sandbox. Serve it yourself (e.g. with graceful shutdown, and
/// [`SandboxState::run_revalidation`] beside it) or use [`spawn`].
pub fn router(state: SandboxState) -> Router {
    let zoom = Router::new()
        .route(
            "/oauth/authorize",
            get(authorize::show).post(authorize::decide),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/v2/users/{user_id}", get(users::get_user))
        .route("/v2/users/{user_id}/token", get(users::get_token))
        .route(
            "/v2/users/{user_id}/meetings",
            get(meetings::list).post(meetings::create),
        )
        .route(
            "/v2/meetings/{meeting_id}",
            get(meetings::get)
                .patch(meetings::update)
                .delete(meetings::delete),
        )
        .route("/j/{meeting_id}", get(room::join_page).post(room::join))
        .route("/s/{meeting_id}", get(room::start))
        .route("/s/{meeting_id}/end", post(room::end))
        .route("/account/apps", get(account::apps))
        .route("/account/signin", post(account::do_signin))
        .route("/account/signout", post(account::signout))
        .route("/account/apps/{client_id}/remove", post(account::remove))
        .route_layer(from_fn_with_state(state.clone(), faults::observe));
    Router::new()
        .route("/", get(pages::index))
        .merge(zoom)
        .nest("/_sandbox", crate::control::router())
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({"code": 404, "message": "Not Found"})),
            )
                .into_response()
        })
        .with_state(state)
}

/// A sandbox serving in a background task.
#[derive(Debug)]
pub struct RunningSandbox {
    base_url: Url,
    addr: SocketAddr,
    state: SandboxState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// Where the sandbox answers; OAuth, `/v2` and `/_sandbox` hang below it.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn control(&self) -> SandboxControl {
        SandboxControl::new(self.base_url.clone())
    }

    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), stops webhook retries.
    pub async fn shutdown(mut self) {
        self.state.begin_shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.state.begin_shutdown();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn default_base(addr: SocketAddr) -> Result<Url, SandboxError> {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(Url::parse(&format!(
        "http://{}/",
        SocketAddr::new(ip, addr.port())
    ))?)
}

/// Binds `addr` (port 0 picks a free port) and serves the sandbox in a tokio task.
pub async fn spawn(
    config: SandboxConfig,
    addr: SocketAddr,
) -> Result<RunningSandbox, SandboxError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(SandboxError::Bind)?;
    let local = listener.local_addr().map_err(SandboxError::Bind)?;
    let base = match &config.public_url {
        Some(u) => u.clone(),
        None => default_base(local)?,
    };
    let state = SandboxState::new(config, base)?;
    tokio::spawn(state.clone().run_revalidation());
    let app = router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sandbox server stopped with an error");
        }
    });
    Ok(RunningSandbox {
        base_url: state.base_url().clone(),
        addr: local,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}
