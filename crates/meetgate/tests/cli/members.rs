//! `meetgate member`: bringing in a tenant's first admin from a terminal.

use std::process::Output;

use serde_json::Value;

use crate::{free_port, http, meetgate, serve, temp_dir, wait_ready};

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = meetgate();
    cmd.arg("--data-dir").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn members_are_added_listed_refused_twice_and_invited() {
    let dir = temp_dir();
    let tenant = json_of(&run(
        &dir,
        &["tenant", "create", "Oak Clinic", "--json"],
        &[],
    ));
    let slug = tenant["tenant"]["slug"].as_str().unwrap().to_owned();

    let added = json_of(&run(
        &dir,
        &[
            "member",
            "add",
            "--tenant",
            &slug,
            "--email",
            "Boss@Oak.example",
            "--name",
            "Dr Boss",
            "--role",
            "admin",
            "--json",
        ],
        &[("MEETGATE_MEMBER_PASSWORD", "a long enough password")],
    ));
    assert_eq!(added["email"], "boss@oak.example");
    assert_eq!(added["role"], "admin");

    let listed = json_of(&run(
        &dir,
        &["member", "list", "--tenant", &slug, "--json"],
        &[],
    ));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], added["id"]);

    let again = run(
        &dir,
        &[
            "member",
            "add",
            "--tenant",
            &slug,
            "--email",
            "boss@oak.example",
            "--name",
            "Twin",
        ],
        &[("MEETGATE_MEMBER_PASSWORD", "a long enough password")],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already a member"));

    let no_password = run(
        &dir,
        &[
            "member",
            "add",
            "--tenant",
            &slug,
            "--email",
            "x@oak.example",
            "--name",
            "X",
        ],
        &[],
    );
    assert!(!no_password.status.success());
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("MEETGATE_MEMBER_PASSWORD"));

    let bad_role = run(
        &dir,
        &[
            "member",
            "invite",
            "--tenant",
            &slug,
            "--email",
            "c@oak.example",
            "--role",
            "owner",
        ],
        &[],
    );
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("--role"));

    let invited = json_of(&run(
        &dir,
        &[
            "member",
            "invite",
            "--tenant",
            &slug,
            "--email",
            "c@oak.example",
            "--json",
        ],
        &[],
    ));
    assert_eq!(invited["invitation"]["state"], "pending");
    let link: url::Url = invited["link"].as_str().unwrap().parse().unwrap();
    assert!(link.path().starts_with("/invitations/"));

    // A member who forgot their password gets a reset link the same way.
    let reset = json_of(&run(
        &dir,
        &[
            "member",
            "reset-password",
            "--tenant",
            &slug,
            "--email",
            "BOSS@oak.example",
            "--json",
        ],
        &[],
    ));
    let reset_link: url::Url = reset["link"].as_str().unwrap().parse().unwrap();
    assert!(reset_link.path().starts_with("/invitations/"));
    let unknown = run(
        &dir,
        &[
            "member",
            "reset-password",
            "--tenant",
            &slug,
            "--email",
            "nobody@oak.example",
        ],
        &[],
    );
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("member of this clinic with that email")
    );

    // An invitation sent to the wrong address is withdrawn before anyone uses it.
    let wrong = json_of(&run(
        &dir,
        &[
            "member",
            "invite",
            "--tenant",
            &slug,
            "--email",
            "typo@oak.example",
            "--json",
        ],
        &[],
    ));
    let wrong_id = wrong["invitation"]["id"].as_str().unwrap().to_owned();
    let revoked = run(
        &dir,
        &["member", "revoke-invitation", "--tenant", &slug, &wrong_id],
        &[],
    );
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let listed = json_of(&run(
        &dir,
        &["member", "invitations", "--tenant", &slug, "--json"],
        &[],
    ));
    let state_of = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["state"].clone())
    };
    assert_eq!(
        state_of(&wrong_id),
        Some(Value::from("expired")),
        "{listed}"
    );
    assert_eq!(
        state_of(invited["invitation"]["id"].as_str().unwrap()),
        Some(Value::from("pending")),
        "{listed}"
    );
    let again = run(
        &dir,
        &["member", "revoke-invitation", "--tenant", &slug, &wrong_id],
        &[],
    );
    assert!(!again.status.success());

    // The links open their pages on a running meetgate.
    let port = free_port();
    let mut server = serve(&dir, port);
    wait_ready(port, &mut server);
    let page = http(
        port,
        &format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            link.path()
        ),
    )
    .unwrap();
    assert_eq!(page.0, 200, "{}", page.1);
    assert!(page.1.contains("c@oak.example"));
    let reset_page = http(
        port,
        &format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            reset_link.path()
        ),
    )
    .unwrap();
    assert!(
        reset_page.1.contains("Choose a new password") && reset_page.1.contains("boss@oak.example"),
        "{}",
        reset_page.1
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
