//! Every role against every endpoint, allowed and refused, and every way a
//! token can be refused.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::{self, *};
use passerelle::store::users;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// (method, path, body, If-Match, expected status)
type Probe<'a> = (Method, String, Option<Value>, Option<&'a str>, StatusCode);

#[tokio::test]
async fn every_role_against_every_endpoint() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let (draft, _) = n.draft(&ready_case()).await;
    for role in Role::ALL {
        let reads = role != Admin;
        let writes = matches!(role, Caseworker | Supervisor);
        let (fresh, fresh_tag) = n.draft(&ready_case()).await;
        let cases: Vec<Probe> = vec![
            (
                Method::GET,
                "/api/v1/code-lists".into(),
                None,
                None,
                StatusCode::OK,
            ),
            (
                Method::GET,
                "/api/v1/code-lists/exploitation_type".into(),
                None,
                None,
                StatusCode::OK,
            ),
            (Method::GET, "/api/v1/me".into(), None, None, StatusCode::OK),
            (
                Method::GET,
                "/api/v1/users".into(),
                None,
                None,
                if role == Admin {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::POST,
                "/api/v1/cases".into(),
                Some(ready_case()),
                None,
                if writes {
                    StatusCode::CREATED
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::GET,
                "/api/v1/cases".into(),
                None,
                None,
                if reads {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            // A draft is outside a liaison's scope (acceptance to handover).
            (
                Method::GET,
                format!("/api/v1/cases/{draft}"),
                None,
                None,
                if reads && role != Liaison {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::GET,
                format!("/api/v1/cases/{draft}/events"),
                None,
                None,
                if reads && role != Liaison {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::GET,
                format!("/api/v1/cases/{draft}/messages"),
                None,
                None,
                if writes {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::GET,
                "/api/v1/admin/messages".into(),
                None,
                None,
                if role == Admin {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::GET,
                "/api/v1/admin/alerts".into(),
                None,
                None,
                if role == Admin {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::POST,
                format!("/api/v1/admin/messages/{}/retry", uuid::Uuid::now_v7()),
                None,
                None,
                if role == Admin {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            (
                Method::PUT,
                format!("/api/v1/cases/{fresh}"),
                Some(ready_case()),
                Some(&fresh_tag),
                if writes {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
        ];
        for (method, path, body, if_match, expected) in cases {
            let mut req = n.request(method.clone(), &path, role);
            if let Some(b) = &body {
                req = req.json(b);
            }
            if let Some(t) = if_match {
                req = req.header("If-Match", t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), expected, "{role} {method} {path}");
            if !expected.is_success() {
                assert_eq!(res.headers()["content-type"], "application/problem+json");
            }
        }
        // Transitions: submit the fresh draft (its version moved on if it was edited).
        let (_, _, tag) = n.read(Supervisor, &fresh).await;
        let res = n
            .transition(role, &fresh, &tag.unwrap(), json!({ "action": "submit" }))
            .await;
        let expected = match role {
            Caseworker | Supervisor => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(res.status(), expected, "{role} submit");
    }
}

#[tokio::test]
async fn liaisons_see_handover_cases_only_and_only_what_a_handover_needs() {
    let n = spawn_node(NodeId::NgNaptip).await;
    let waiting = n.receive_referral(ready_details(), Some(identity())).await;
    let accepted = n.receive_referral(ready_details(), Some(identity())).await;
    let (_, _, tag) = n.read(Supervisor, &accepted.id.to_string()).await;
    n.step(
        Supervisor,
        &accepted.id.to_string(),
        &tag.unwrap(),
        json!({ "action": "accept" }),
    )
    .await;

    let list: Value = n
        .get("/api/v1/cases", Liaison)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], accepted.id.to_string());
    let (status, _, _) = n.read(Liaison, &waiting.id.to_string()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, tag) = n.read(Supervisor, &waiting.id.to_string()).await;
    let res = n
        .transition(
            Liaison,
            &waiting.id.to_string(),
            &tag.unwrap(),
            json!({ "action": "accept" }),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "outside_role_scope").await;

    let (status, v, _) = n.read(Liaison, &accepted.id.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["details"].is_null() && v["identity"].is_null());
    let h = &v["handover"];
    assert_eq!(
        (h["minor"].as_bool(), h["given_name"].as_str()),
        (Some(true), Some("Zainab"))
    );
    let text = v.to_string();
    for secret in [
        "+2348012345678",
        "Kofar Mata",
        "domestic_servitude",
        "Dala",
        "voluntary_return",
    ] {
        assert!(!text.contains(secret), "liaison view leaks {secret}");
    }
    assert_eq!(v["allowed_actions"], json!(["schedule_handover"]));
}

#[tokio::test]
async fn every_refused_token_gets_401_problem() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let me = || n.anonymous(reqwest::Method::GET, "/api/v1/me");
    // No token, another scheme, garbage, a well-formed unknown token.
    let res = me().send().await.unwrap();
    let p = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let generic = p["detail"].clone();
    let res = me()
        .header("Authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = me().bearer_auth("nope").send().await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = me()
        .bearer_auth(format!("psl_{}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Revoked, expired, disabled account.
    let t = now();
    let (revoked, expired) =
        n.db.write_blocking(|c| {
            users::create_user(c, "someone", "Someone", Caseworker, "ANLTP/TIM", t)?;
            let r = users::issue_token(c, "someone", "r", 30, t)?;
            users::revoke_token(c, &r.id.to_string(), t)?;
            let e = users::issue_token(c, "someone", "e", 1, t - chrono::Duration::days(2))?;
            Ok::<_, users::UserError>((r.secret, e.secret))
        })
        .unwrap();
    for (token, why) in [(revoked, "revoked_token"), (expired, "expired_token")] {
        let res = me().bearer_auth(token).send().await.unwrap();
        let p = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        // The reason is logged, not told: a token holder learns nothing about the account.
        assert_eq!(p["detail"], generic, "{why}");
    }
    let res = n.get("/api/v1/me", Caseworker).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The operator disables the account from the command line while the node runs.
    let out = crate::cli::run_against(&n, &["users", "disable", "--username", "caseworker"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabled caseworker"));
    let res = n.get("/api/v1/me", Caseworker).send().await.unwrap();
    let p = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(p["detail"], generic);
    assert!(me()
        .send()
        .await
        .unwrap()
        .headers()
        .contains_key("www-authenticate"));
}
