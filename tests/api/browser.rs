//! Runs the console's browser scenarios (`tests/browser/*.mjs`, Playwright
//! driving Debian's Chromium) against nodes spawned here, and checks every
//! API exchange the console made against the spec, as the other tests'
//! requests are.
//!
//! A scenario asks this side for what only the test process can do (move
//! a node's clock) by printing `@@ask {json}` and reading the answer on its
//! standard input; its other lines are its report (`ok - step`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use passerelle::domain::roles::Role;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;

/// The console password each test user gets.
pub fn password(role: Role) -> String {
    format!("{} console password", role.as_str())
}

/// The folder of the browser scenarios.
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Panics with what to do when the browser or the scenarios' packages are missing.
fn require_browser() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: run tests/browser/setup.sh (installs Debian's chromium and the scenarios' npm packages)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run tests/browser/setup.sh"
    );
}

/// Gives every test user of `n` a console password.
pub fn with_console_passwords(n: &TestNode) {
    for role in Role::ALL {
        crate::session::with_password(n, &role.as_str().replace('_', "-"), &password(role));
    }
}

fn node_config(n: &TestNode) -> Value {
    let users: HashMap<&str, Value> = Role::ALL
        .iter()
        .map(|r| {
            (
                r.as_str(),
                json!({ "username": r.as_str().replace('_', "-"), "password": password(*r), "token": n.tokens[r] }),
            )
        })
        .collect();
    json!({ "url": n.address, "node": n.node.as_str(), "users": users })
}

/// Runs `tests/browser/{script}` with the nodes named as given; returns
/// once it has passed, after checking the console's API exchanges.
pub async fn run_scenario(script: &str, nodes: &[(&str, &TestNode)], extra: Value) {
    require_browser();
    // One browser at a time: on two cores, several Chromiums beside the
    // rest of the suite make every step slow.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let work = tempfile::tempdir().unwrap();
    let exchanges = work.path().join("exchanges.json");
    let config = json!({
        "nodes": nodes.iter().map(|(name, n)| ((*name).to_owned(), node_config(n))).collect::<serde_json::Map<_, _>>(),
        "exchanges": exchanges,
        "work": work.path(),
        "screenshots": browser_dir().join("screenshots"),
        "drifted": PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("drifted-screenshots"),
        "regenerate": std::env::var_os("PASSERELLE_REGENERATE").is_some(),
        "extra": extra,
    });
    let config_path = work.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(browser_dir())
        .env("PASSERELLE_BROWSER_CONFIG", &config_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js) runs the browser scenarios");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut report = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(ask) = line.strip_prefix("@@ask ") {
            let ask: Value = serde_json::from_str(ask).unwrap();
            let answer = answer(&ask, nodes).await;
            stdin
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .unwrap();
            continue;
        }
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("{line}");
        }
        report.push(line);
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "browser scenario {script} failed:\n{}\n{}",
        report.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every request the console made keeps the spec's word.
    let recorded: Vec<Value> = serde_json::from_slice(&std::fs::read(&exchanges).unwrap()).unwrap();
    assert!(
        !recorded.is_empty(),
        "the scenario recorded no API exchange"
    );
    for x in &recorded {
        let url = reqwest::Url::parse(x["url"].as_str().unwrap()).unwrap();
        let body = x["request_body"].as_str().map(str::as_bytes);
        crate::spec::check(
            &crate::spec::SentRequest {
                method: x["method"].as_str().unwrap(),
                url: &url,
                content_type: x["request_type"].as_str(),
                body,
            },
            x["status"].as_u64().unwrap() as u16,
            x["response_type"].as_str(),
            x["response_body"].as_str().unwrap_or("").as_bytes(),
        );
    }
}

/// What a scenario asked of the test process.
async fn answer(ask: &Value, nodes: &[(&str, &TestNode)]) -> Value {
    let node = |name: &str| {
        nodes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    match ask["ask"].as_str() {
        Some("advance_clock") => {
            let n = node(ask["node"].as_str().unwrap());
            n.ctx
                .clock
                .advance(chrono::Duration::minutes(ask["minutes"].as_i64().unwrap()));
            json!({ "ok": true })
        }
        other => panic!("unknown ask {other:?}"),
    }
}
