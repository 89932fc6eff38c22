//! User administration through the API (what the console's administrator
//! screen does): accounts created with a first password, changed,
//! disabled, passwords reset and credentials revoked, all audited; and each
//! user's remembered console language.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::session::{get_with_cookie, sign_in, signed_in, with_cookie, with_password};

const FIRST: &str = "first password of amina";
const SECOND: &str = "second password of amina";

async fn admin(n: &TestNode, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let call = n.request(method, path, Role::Admin);
    let call = match body {
        Some(b) => call.json(&b),
        None => call,
    };
    call.send().await.unwrap()
}

#[tokio::test]
async fn an_administrator_manages_accounts_and_every_change_is_audited() {
    let n = spawn_node(NodeId::NgNaptip).await;
    let new = json!({ "username": "amina", "display_name": "Amina Bello", "role": "caseworker", "password": FIRST });
    // Only an administrator may.
    let res = n
        .request(Method::POST, "/api/v1/users", Role::Supervisor)
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    let res = admin(&n, Method::POST, "/api/v1/users", Some(new.clone())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["role"], "caseworker");
    assert_eq!(user["agency"], "NAPTIP");
    let id = user["id"].as_str().unwrap().to_owned();
    // The username is taken now; a short password and an empty name are refused together.
    let res = admin(&n, Method::POST, "/api/v1/users", Some(new)).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "taken");
    let bad =
        json!({ "username": "bob", "display_name": " ", "role": "liaison", "password": "short" });
    let p = assert_problem(
        admin(&n, Method::POST, "/api/v1/users", Some(bad)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{p}");
    // A display name is at most 200 characters as sent, blanks included, and
    // holds no control character (the contract run found one that passed).
    for (name, code) in [
        (format!("  {}", "*".repeat(199)), "too_long"),
        ("Amina\u{15}".to_owned(), "control_characters"),
    ] {
        let bad = json!({ "username": "bob", "display_name": name, "role": "liaison", "password": FIRST });
        let p = assert_problem(
            admin(&n, Method::POST, "/api/v1/users", Some(bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(p["errors"][0]["code"], code, "{p}");
    }

    // The new user signs in with the first password; a promotion applies at once.
    let s = signed_in(&n, "amina", FIRST).await;
    let change = json!({ "role": "supervisor", "display_name": "Amina Bello (sup.)" });
    let res = admin(
        &n,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(change),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me = get_with_cookie(&n, "/api/v1/me", &s).await;
    assert_eq!(me["role"], "supervisor");
    assert_eq!(me["display_name"], "Amina Bello (sup.)");

    // A reset ends her sessions; the new password works, the old one not.
    let reset = json!({ "new_password": SECOND });
    let res = admin(
        &n,
        Method::PUT,
        &format!("/api/v1/users/{id}/password"),
        Some(reset),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = with_cookie(&n, Method::GET, "/api/v1/me", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(&n, "amina", FIRST).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let s = signed_in(&n, "amina", SECOND).await;

    // Revoking her credentials ends the session (and any token).
    let res = admin(
        &n,
        Method::DELETE,
        &format!("/api/v1/users/{id}/credentials"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let revoked: Value = res.json().await.unwrap();
    assert_eq!(revoked["sessions_ended"], 1);
    let res = with_cookie(&n, Method::GET, "/api/v1/me", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Disabled, she cannot sign in; an administrator cannot disable themselves.
    let off = json!({ "disabled": true });
    let res = admin(
        &n,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(off.clone()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&n, "amina", SECOND).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let me = n.get_ok("/api/v1/me", Role::Admin).await;
    let own = format!("/api/v1/users/{}", me["user_id"].as_str().unwrap());
    let p = assert_problem(
        admin(&n, Method::PATCH, &own, Some(off)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "own_account");
    let unknown = "/api/v1/users/0191f5a2-0000-7000-8000-000000000000/credentials";
    assert_problem(
        admin(&n, Method::DELETE, unknown, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Each change is in the audit log with who made it; no password is.
    let log = n.audit_log().await;
    let actions: Vec<_> = log
        .iter()
        .filter(|e| e.actor == "admin" && e.outcome == "ok")
        .map(|e| e.action.as_str())
        .collect();
    for action in [
        "POST /api/v1/users",
        "PATCH /api/v1/users/{id}",
        "PUT /api/v1/users/{id}/password",
        "DELETE /api/v1/users/{id}/credentials",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let refused = log
        .iter()
        .filter(|e| e.actor == "supervisor" && e.action == "POST /api/v1/users")
        .count();
    assert_eq!(refused, 1, "the supervisor's refusal is audited");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(FIRST) && !text.contains(SECOND));
}

#[tokio::test]
async fn a_user_chooses_a_language_and_it_is_remembered() {
    let n = spawn_node(NodeId::NeAnltp).await;
    with_password(&n, "liaison", "liaison password 1");
    let s = signed_in(&n, "liaison", "liaison password 1").await;
    let session = get_with_cookie(&n, "/api/v1/session", &s).await;
    assert_eq!(session["language"], Value::Null);
    assert_eq!(session["node"], "ne-anltp");
    let res = with_cookie(&n, Method::PUT, "/api/v1/me/language", &s)
        .header("X-CSRF-Token", &s.csrf)
        .json(&json!({ "language": "de" }))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "language");
    let res = with_cookie(&n, Method::PUT, "/api/v1/me/language", &s)
        .header("X-CSRF-Token", &s.csrf)
        .json(&json!({ "language": "fr" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // A later sign-in (another device) gets it back.
    let res = sign_in(&n, "liaison", "liaison password 1").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["language"], "fr");
    assert_eq!(
        n.get_ok("/api/v1/me", Role::Liaison).await["language"],
        "fr"
    );
}
