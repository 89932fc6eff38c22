//! The command line against a real database: accounts, tokens, migrations,
//! and a clear refusal of an unsupported database URL.

use std::process::Command;

use passerelle::domain::ids::NodeId;
use reqwest::StatusCode;

use crate::helpers::*;

pub fn passerelle(
    config: &std::path::Path,
    database_url: &str,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .env("PASSERELLE__DATABASE__URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Runs the command line against a running node's database and certificates,
/// as its operator would on the same host; it must succeed.
pub fn run_against(n: &TestNode, args: &[&str]) -> std::process::Output {
    let config = n.dir.path().join("operator.toml");
    std::fs::write(&config, config_toml(n.node, n.dir.path(), "")).unwrap();
    let out = passerelle(&config, &n.database_url, args);
    assert!(
        out.status.success(),
        "passerelle {args:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn users_and_tokens_from_the_command_line() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let config = n.dir.path().join("niamey.toml");
    std::fs::write(&config, config_toml(NodeId::NeAnltp, n.dir.path(), "")).unwrap();
    let run = |args: &[&str]| passerelle(&config, &n.database_url, args);

    let out = run(&["migrate"]);
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "users",
        "add",
        "--username",
        "moussa",
        "--role",
        "supervisor",
        "--display-name",
        "Moussa I.",
    ]);
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "users",
        "add",
        "--username",
        "moussa",
        "--role",
        "supervisor",
        "--display-name",
        "Again",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already taken"));
    let out = run(&[
        "users",
        "add",
        "--username",
        "x",
        "--role",
        "boss",
        "--display-name",
        "X",
    ]);
    assert!(!out.status.success());

    let out = run(&["tokens", "issue", "--username", "moussa", "--ttl-days", "7"]);
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("psl_"));
    let res = n
        .anonymous(reqwest::Method::GET, "/api/v1/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (v["username"].as_str(), v["role"].as_str()),
        (Some("moussa"), Some("supervisor"))
    );

    // The secret is stored only as a digest, and never listed.
    let out = run(&["tokens", "list", "--username", "moussa"]);
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(!listing.contains(&token));
    let id = listing.split('\t').next().unwrap().to_owned();
    let out = run(&["tokens", "revoke", "--id", &id]);
    assert!(out.status.success(), "{:?}", out.status);
    let res = n
        .anonymous(reqwest::Method::GET, "/api/v1/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let out = run(&["users", "disable", "--username", "moussa"]);
    assert!(out.status.success());
    let out = run(&["users", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(disabled)"));
}

#[test]
fn an_unsupported_database_url_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("n.toml");
    std::fs::write(&config, config_toml(NodeId::NgNaptip, dir.path(), "")).unwrap();
    for url in [
        "mysql://root@localhost/passerelle",
        "postgre://typo@localhost/db",
    ] {
        let out = passerelle(&config, url, &["migrate"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not supported"), "{err}");
        assert!(!dir.path().join("mysql:").exists());
    }
    // A mismatched node/country is refused too.
    let mismatched = config_toml(NodeId::NgNaptip, dir.path(), "")
        .replace("country = \"NG\"", "country = \"NE\"");
    std::fs::write(&config, mismatched).unwrap();
    let out = passerelle(&config, "sqlite://x.db", &["migrate"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("node.country"));
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("n.toml");
    let toml = config_toml(
        NodeId::NeAnltp,
        dir.path(),
        "[http]\nlisten = \"127.0.0.1:0\"\n",
    );
    std::fs::write(&config, toml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env("PASSERELLE__LOG__FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it listens (JSON logs), then until it answers.
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("listening"))
        .unwrap();
    let log: serde_json::Value = serde_json::from_str(&line).unwrap();
    let address = log["fields"]["api"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        dir.path().join("passerelle.db").exists(),
        "the default SQLite database lives in the data directory"
    );
}

#[test]
fn the_demo_walks_a_referral_to_closure_on_both_nodes() {
    let certs = crate::helpers::certs_dir();
    let mut last = String::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let base = crate::helpers::free_port().clamp(1024, 65000);
        let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args([
                "demo",
                "--exit",
                "--base-port",
                &base.to_string(),
                "--certs",
                certs.to_str().unwrap(),
            ])
            .args(["--dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            assert!(
                stdout.contains("Both nodes agree: the referral is closed"),
                "{stdout}"
            );
            assert_eq!(
                stdout.matches("closure                  delivered").count(),
                1,
                "{stdout}"
            );
            assert_eq!(
                stdout.matches("closure                  accepted").count(),
                1,
                "{stdout}"
            );
            return;
        }
        // Four consecutive ports were not all free: try another base.
        last = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    }
    panic!("the demo failed: {last}");
}
