//! The binary as an operator runs it: start-up, readiness, errors, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn meetgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meetgate"));
    // Configuration must come from the test alone.
    for (key, _) in std::env::vars() {
        if key.starts_with("MEETGATE_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "meetgate-cli-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A plain HTTP/1.1 request; returns the status code and the body.
fn http(port: u16, request: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, response))
}

fn get(port: u16, path: &str) -> Option<u16> {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .map(|r| r.0)
}

fn wait_ready(port: u16, child: &mut Child) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("meetgate exited early: {status}");
        }
        if get(port, "/readyz") == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("meetgate did not become ready");
}

fn serve(dir: &std::path::Path, port: u16) -> Child {
    meetgate()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn serve_with_embedded_defaults_answers_health_and_readiness() {
    let dir = temp_dir();
    let port = free_port();
    let mut child = serve(&dir, port);
    wait_ready(port, &mut child);
    assert_eq!(get(port, "/healthz"), Some(200));
    assert_eq!(get(port, "/readyz"), Some(200));
    assert!(
        dir.join("meetgate.db").exists(),
        "SQLite file in the data directory"
    );
    let key = dir.join("vault.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_database_urls_fail_with_one_line_naming_the_problem() {
    let dir = temp_dir();
    for (url, expect) in [
        (
            "postgres://meetgate:hunter2@127.0.0.1:1/meetgate",
            "database",
        ),
        ("mysql://localhost/x", "database_url"),
        ("postgres://[not a url", "database"),
    ] {
        let output = meetgate()
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "--database-url",
                url,
                "migrate",
            ])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{url} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line for {url}: {stderr}");
        assert!(lines[0].contains(expect), "{url}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("hunter2"),
            "{stderr}"
        );
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let dir = temp_dir();
    let created = meetgate()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "tenant",
            "create",
            "Shutdown Clinic",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = json["api_key"].as_str().unwrap().to_owned();
    let port = free_port();
    let mut child = serve(&dir, port);
    wait_ready(port, &mut child);

    // A request whose body is still arriving when SIGTERM comes.
    let body = r#"{"user":"u1","return_url":"https://clinic.example/back"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "POST /v1/connect-sessions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    std::thread::sleep(Duration::from_millis(500));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 422"),
        "the in-flight request was answered: {response}"
    );
    assert!(response.contains("return_url"), "{response}");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "meetgate did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    // New connections are refused once it is gone.
    assert_eq!(get(port, "/healthz"), None);
}

#[test]
fn config_default_prints_a_file_that_parses_and_check_names_bad_settings() {
    let output = meetgate().args(["config", "default"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("refresh_margin_secs = 300") && text.contains("# "));
    let output = meetgate()
        .args(["config", "check"])
        .env("MEETGATE_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("log.format"));
    let output = meetgate()
        .args(["config", "check"])
        .env("MEETGATE_NOT_A_SETTING", "1")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MEETGATE_NOT_A_SETTING"));
}

mod members;
mod operations;
mod replicas;
