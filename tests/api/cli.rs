//! The command line against a real database: accounts, tokens, migrations,
//! and a clear refusal of an unsupported database URL.

use std::process::Command;

use passerelle::domain::ids::NodeId;
use reqwest::StatusCode;

use crate::helpers::*;

fn passerelle(config: &std::path::Path, database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .env("PASSERELLE__DATABASE__URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn users_and_tokens_from_the_command_line() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let config = n.dir.path().join("niamey.toml");
    std::fs::write(
        &config,
        "[node]\nid = \"ne-anltp\"\nagency = \"ANLTP/TIM\"\ncountry = \"NE\"\n",
    )
    .unwrap();
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
    let me = format!("{}/api/v1/me", n.address);
    let res = n.client.get(&me).bearer_auth(&token).send().await.unwrap();
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
    let res = n.client.get(&me).bearer_auth(&token).send().await.unwrap();
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
    std::fs::write(
        &config,
        "[node]\nid = \"ng-naptip\"\nagency = \"NAPTIP\"\ncountry = \"NG\"\n",
    )
    .unwrap();
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
    std::fs::write(
        &config,
        "[node]\nid = \"ng-naptip\"\nagency = \"NAPTIP\"\ncountry = \"NE\"\n",
    )
    .unwrap();
    let out = passerelle(&config, "sqlite://x.db", &["migrate"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("node.country"));
}
