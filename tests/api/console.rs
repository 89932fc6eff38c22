//! The web console in a real browser (Debian's Chromium, driven by
//! Playwright; the scenarios are in `tests/browser`).

use passerelle::domain::roles::Role;
use serde_json::json;

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
        let page = n.get_ok("/api/v1/cases?state=closed", Role::Supervisor).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    }
}

#[tokio::test]
async fn sign_in_sessions_csrf_and_what_each_role_may_see_in_the_console() {
    use crate::exchange::{act, both_in, refer};
    let (ne, ng) = spawn_pair().await;
    with_console_passwords(&ne);
    with_console_passwords(&ng);
    // A case at the handover stage, with a person's identity to look for.
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
            "reference": case["reference"],
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
    assert!(log.iter().any(|e| e.actor == "amina" && e.kind == "account_locked"));
}
