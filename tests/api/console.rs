//! The web console in a real browser (Debian's Chromium, driven by
//! Playwright; the scenarios are in `tests/browser`).

use passerelle::domain::roles::Role;
use serde_json::{json, Value};

use crate::browser::{run_scenario, with_console_passwords};
use crate::helpers::*;

#[tokio::test]
async fn the_whole_sop_is_clicked_through_in_two_consoles() {
    let (ne, ng) = spawn_pair().await;
    with_console_passwords(&ne);
    with_console_passwords(&ng);
    run_scenario("sop.mjs", &[("niamey", &ne), ("abuja", &ng)], json!({})).await;
    // Both nodes end with the case closed, and agree on it.
    for n in [&ne, &ng] {
        let page = n
            .get_ok("/api/v1/cases?state=closed", Role::Supervisor)
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    }
}

/// Two nodes with console passwords and a case at the handover stage
/// (with a person's identity to look for); the case's reference.
async fn pair_with_a_handover() -> (TestNode, TestNode, Value) {
    use crate::exchange::{act, both_in, refer};
    let (ne, ng) = spawn_pair().await;
    with_console_passwords(&ne);
    with_console_passwords(&ng);
    let (_, referral) = refer(&ne).await;
    let (ne_id, ng_id) = both_in(&ne, &ng, referral, "received").await;
    act(&ng, Role::Supervisor, &ng_id, json!({ "action": "accept" })).await;
    act(
        &ng,
        Role::Liaison,
        &ng_id,
        json!({ "action": "schedule_handover", "handover": handover_plan() }),
    )
    .await;
    both_in(&ne, &ng, referral, "handover_scheduled").await;
    let (_, case, _) = ne.read(Role::Supervisor, &ne_id).await;
    (ne, ng, case["reference"].clone())
}

#[tokio::test]
async fn every_screen_in_both_languages_and_on_a_phone_is_accessible() {
    let (ne, ng, reference) = pair_with_a_handover().await;
    // Enough drafts for the statistics to show a count (cells under 5 are suppressed).
    for _ in 0..5 {
        ne.draft(&ready_case()).await;
    }
    run_scenario(
        "screens.mjs",
        &[("niamey", &ne), ("abuja", &ng)],
        json!({ "reference": reference }),
    )
    .await;
}

#[tokio::test]
async fn sign_in_sessions_csrf_and_what_each_role_may_see_in_the_console() {
    let (ne, ng, reference) = pair_with_a_handover().await;
    let identity = identity();
    let planted: Vec<&str> = ["family_name", "phone", "family_address"]
        .iter()
        .map(|k| identity[k].as_str().unwrap())
        .collect();
    // An account to lock.
    let res = ne
        .request(reqwest::Method::POST, "/api/v1/users", Role::Admin)
        .json(&json!({ "username": "amina", "display_name": "Amina", "role": "caseworker", "password": "amina's password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    run_scenario(
        "access.mjs",
        &[("niamey", &ne), ("abuja", &ng)],
        json!({
            "reference": reference,
            "locked_user": { "username": "amina", "password": "amina's password" },
            "planted": planted,
        }),
    )
    .await;
    // Every failure and the lock are in the audit log, with who.
    let log = ne.audit_log().await;
    let refused = log
        .iter()
        .filter(|e| e.actor == "amina" && e.kind == "sign_in" && e.outcome == "refused")
        .count();
    assert_eq!(refused, 10);
    assert!(log
        .iter()
        .any(|e| e.actor == "amina" && e.kind == "account_locked"));
}

/// What a browser on a slow link downloads to show the sign-in page.
#[tokio::test]
async fn the_console_loads_in_under_200_kb_from_hashed_immutable_files_under_a_strict_csp() {
    let n = spawn_node(passerelle::domain::ids::NodeId::NeAnltp).await;
    async fn get(n: &TestNode, path: &str, gzip: bool) -> reqwest::Response {
        let req = n.client.get(format!("{}{path}", n.address));
        let req = if gzip {
            req.header("Accept-Encoding", "gzip")
        } else {
            req
        };
        req.send().await.unwrap()
    }
    let page = get(&n, "/", true).await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["content-encoding"], "gzip");
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    // Compressed bytes are what the link carries (reqwest decodes nothing here).
    let mut transferred = page.bytes().await.unwrap().len();
    let html = get(&n, "/", false).await.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="));
    let files: Vec<&str> = html
        .split('"')
        .filter(|s| s.starts_with("/console/"))
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        let res = get(&n, f, true).await;
        assert_eq!(res.status(), 200, "{f}");
        assert_eq!(res.headers()["content-encoding"], "gzip", "{f}");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(res.headers().contains_key("content-security-policy"));
        transferred += res.bytes().await.unwrap().len();
    }
    assert!(transferred < 200_000, "first load {transferred} bytes");
    eprintln!(
        "console first load: {transferred} bytes compressed, {} files",
        files.len() + 1
    );
    // Another build's files are not served from this one.
    let name = files[0].rsplit('/').next().unwrap();
    let res = get(&n, &format!("/console/0000000000000000/{name}"), true).await;
    assert_eq!(res.status(), 404);
}
