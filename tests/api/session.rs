//! Signing in to the console: a password, the session cookie and its CSRF
//! token, idle expiry, signing out here and everywhere, a password change,
//! and usernames slowed down then locked after failures — every attempt
//! audited. Time limits are reached by moving the node's clock.

use passerelle::domain::ids::NodeId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const PASSWORD: &str = "a long enough passphrase";

/// Gives the demo caseworker a password (as `passerelle users set-password` does).
pub(crate) fn with_password(n: &TestNode, username: &str, password: &str) {
    let (u, p) = (username.to_owned(), password.to_owned());
    n.db.write_blocking(move |c| passerelle::app::sign_in::set_password(c, &u, &p, now()))
        .unwrap()
        .unwrap();
}

/// A signed-in console session: its cookie and CSRF token.
pub(crate) struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub(crate) async fn sign_in(n: &TestNode, username: &str, password: &str) -> reqwest::Response {
    n.anonymous(Method::POST, "/api/v1/session")
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn signed_in(n: &TestNode, username: &str, password: &str) -> Session {
    let res = sign_in(n, username, password).await;
    assert_eq!(res.status(), StatusCode::OK);
    let set = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("passerelle_session=pss_"));
    let body: Value = res.json().await.unwrap();
    Session {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

/// A GET with the session cookie; its JSON body.
pub(crate) async fn get_with_cookie(n: &TestNode, path: &str, s: &Session) -> Value {
    with_cookie(n, Method::GET, path, s)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn with_cookie(n: &TestNode, method: Method, path: &str, s: &Session) -> Call {
    n.anonymous(method, path).header("Cookie", &s.cookie)
}

#[tokio::test]
async fn a_user_signs_in_and_works_with_the_session_cookie_and_its_csrf_token() {
    let n = spawn_node(NodeId::NeAnltp).await;
    with_password(&n, "caseworker", PASSWORD);
    let s = signed_in(&n, "caseworker", PASSWORD).await;
    let me: Value = with_cookie(&n, Method::GET, "/api/v1/me", &s)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "caseworker");
    // A change without the CSRF token is refused, with it accepted.
    let draft = || with_cookie(&n, Method::POST, "/api/v1/cases", &s).json(&ready_case());
    let res = draft().send().await.unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "csrf_token_invalid").await;
    let res = draft()
        .header("X-CSRF-Token", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "csrf_token_invalid").await;
    let res = draft()
        .header("X-CSRF-Token", &s.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // A reloaded page gets the same CSRF token back.
    let v: Value = with_cookie(&n, Method::GET, "/api/v1/session", &s)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["csrf_token"], s.csrf.as_str());
    // The session operations are for sessions: a bearer token does not reach them.
    let res = n
        .request(
            Method::DELETE,
            "/api/v1/session",
            passerelle::domain::roles::Role::Caseworker,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // Signing out ends the session.
    let res = with_cookie(&n, Method::DELETE, "/api/v1/session", &s)
        .header("X-CSRF-Token", &s.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = with_cookie(&n, Method::GET, "/api/v1/me", &s)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let log = n.audit_log().await;
    assert!(log
        .iter()
        .any(|e| e.kind == "sign_in" && e.actor == "caseworker" && e.outcome == "ok"));
    assert!(log
        .iter()
        .any(|e| e.kind == "sign_out" && e.action == "sign_out"));
    assert!(log.iter().any(|e| e.kind == "refusal"
        && e.actor == "caseworker"
        && e.code.as_deref() == Some("csrf_token_invalid")));
}

#[tokio::test]
async fn a_session_ends_when_idle_and_everywhere_on_request() {
    let n = spawn_node_with(
        NodeId::NgNaptip,
        std::sync::Arc::new(|s: &mut passerelle::config::Settings| {
            s.console.session_idle_minutes = 5;
        }),
    )
    .await;
    with_password(&n, "supervisor", PASSWORD);
    let a = signed_in(&n, "supervisor", PASSWORD).await;
    let b = signed_in(&n, "supervisor", PASSWORD).await;
    let me = |s: &Session| with_cookie(&n, Method::GET, "/api/v1/me", s).send();
    assert_eq!(me(&a).await.unwrap().status(), StatusCode::OK);
    // Everywhere: both sessions end.
    let res = with_cookie(&n, Method::DELETE, "/api/v1/sessions", &a)
        .header("X-CSRF-Token", &a.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&a).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Idle longer than `console.session_idle_minutes` (5 here): the session ends.
    let c = signed_in(&n, "supervisor", PASSWORD).await;
    n.ctx.clock.advance(chrono::Duration::minutes(4));
    assert_eq!(me(&c).await.unwrap().status(), StatusCode::OK);
    n.ctx.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(me(&c).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_sign_ins_slow_the_username_down_then_lock_it_and_are_audited() {
    let n = spawn_node(NodeId::NeAnltp).await;
    with_password(&n, "liaison", PASSWORD);
    let wrong = || sign_in(&n, "liaison", "not the password at all");
    for _ in 0..3 {
        assert_problem(
            wrong().await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    // The fourth attempt comes too soon.
    let res = sign_in(&n, "liaison", PASSWORD).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
    // Patient attempts, each after its delay, until the lock.
    for _ in 3..10 {
        n.ctx.clock.advance(chrono::Duration::seconds(61));
        assert_problem(
            wrong().await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    n.ctx.clock.advance(chrono::Duration::seconds(61));
    let res = sign_in(&n, "liaison", PASSWORD).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
    // A quarter of an hour later the right password works, and the count restarts.
    n.ctx.clock.advance(chrono::Duration::minutes(15));
    signed_in(&n, "liaison", PASSWORD).await;
    assert_problem(
        wrong().await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // An unknown username is refused the same way.
    assert_problem(
        sign_in(&n, "nobody", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let log = n.audit_log().await;
    let count = |kind: &str, outcome: &str| {
        log.iter()
            .filter(|e| e.kind == kind && e.actor == "liaison" && e.outcome == outcome)
            .count()
    };
    assert_eq!(count("sign_in", "refused"), 11);
    assert_eq!(count("sign_in", "throttled"), 1);
    assert_eq!(count("sign_in", "locked"), 1);
    assert_eq!(count("account_locked", "locked"), 1);
    assert_eq!(count("sign_in", "ok"), 1);
    // Never a password in the log.
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("not the password"));
}

#[tokio::test]
async fn an_operator_sets_a_password_from_standard_input() {
    use std::io::Write;
    let n = spawn_node(NodeId::NgNaptip).await;
    let config = n.dir.path().join("operator.toml");
    std::fs::write(&config, config_toml(n.node, n.dir.path(), "")).unwrap();
    let set = |password: &'static str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["--config", config.to_str().unwrap()])
            .args(["users", "set-password", "--username", "caseworker"])
            .env("PASSERELLE__DATABASE__URL", &n.database_url)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let short = set("too short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 to 128 characters"));
    assert!(set(PASSWORD).status.success());
    signed_in(&n, "caseworker", PASSWORD).await;
}

#[tokio::test]
async fn a_user_changes_their_password_and_their_other_sessions_end() {
    let n = spawn_node(NodeId::NeAnltp).await;
    with_password(&n, "admin", PASSWORD);
    let s = signed_in(&n, "admin", PASSWORD).await;
    let other = signed_in(&n, "admin", PASSWORD).await;
    let change = |current: &str, new: &str| {
        with_cookie(&n, Method::PUT, "/api/v1/me/password", &s)
            .header("X-CSRF-Token", &s.csrf)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
    };
    let res = change("not the password at all", "another long passphrase")
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "current_password_wrong").await;
    let res = change(PASSWORD, "too short").await.unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = change(PASSWORD, "another long passphrase").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let me = |s: &Session| with_cookie(&n, Method::GET, "/api/v1/me", s).send();
    assert_eq!(me(&s).await.unwrap().status(), StatusCode::OK);
    assert_eq!(me(&other).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_problem(
        sign_in(&n, "admin", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    signed_in(&n, "admin", "another long passphrase").await;
}
