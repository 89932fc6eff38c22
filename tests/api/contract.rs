//! The API keeps its word: authentication before anything else, every
//! refusal attributed to its author, the spec's names on the wire.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

async fn last_refusal(n: &TestNode) -> passerelle::audit::Entry {
    n.audit_log()
        .await
        .into_iter()
        .rev()
        .find(|e| e.kind == "refusal")
        .expect("a refusal entry")
}

#[tokio::test]
async fn a_bad_token_is_401_whatever_else_is_wrong_and_is_logged() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let bad = "psl_not_a_token";
    let attempts = || {
        [
            n.anonymous(Method::GET, "/api/v1/cases/not-a-uuid"),
            n.anonymous(Method::GET, "/api/v1/cases?limit=abc&state=nowhere"),
            n.anonymous(Method::POST, "/api/v1/cases")
                .header("content-type", "application/json")
                .body("{ not json"),
            n.anonymous(Method::POST, "/api/v1/cases")
                .body("plain text"),
            n.anonymous(Method::GET, "/api/v1/no-such-thing"),
            n.anonymous(Method::DELETE, "/api/v1/cases"),
        ]
    };
    for auth in [None, Some(bad)] {
        for (i, req) in attempts().into_iter().enumerate() {
            let req = match auth {
                Some(t) => req.bearer_auth(t),
                None => req,
            };
            let res = req.send().await.unwrap();
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
            let e = last_refusal(&n).await;
            assert_eq!(e.actor, "anonymous", "attempt {i}");
            assert_eq!(e.code.as_deref(), Some("unauthenticated"), "attempt {i}");
        }
    }
}

#[tokio::test]
async fn every_refusal_of_an_authenticated_request_names_its_author() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let cases = [
        (
            n.get("/api/v1/cases/not-a-uuid", Caseworker),
            "invalid_path_parameter",
        ),
        (
            n.get("/api/v1/cases?limit=abc", Caseworker),
            "invalid_query",
        ),
        (
            n.request(Method::POST, "/api/v1/cases", Caseworker)
                .header("content-type", "application/json")
                .body("{ not json"),
            "malformed_json",
        ),
        (
            n.get(
                &format!("/api/v1/cases/{}", uuid::Uuid::new_v4()),
                Caseworker,
            ),
            "case_not_found",
        ),
        (n.get("/api/v1/users", Caseworker), "role_not_permitted"),
    ];
    for (req, code) in cases {
        let res = req.send().await.unwrap();
        assert!(res.status().is_client_error(), "{code}: {}", res.status());
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], code);
        let e = last_refusal(&n).await;
        assert_eq!(e.actor, "caseworker", "{code}");
        assert_eq!(e.role.as_deref(), Some("caseworker"), "{code}");
        assert_eq!(e.code.as_deref(), Some(code));
    }
}

#[tokio::test]
async fn states_and_actions_in_the_spec_are_the_ones_on_the_wire() {
    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let states = spec["components"]["schemas"]["State"]["enum"].clone();
    let actions = spec["components"]["schemas"]["Action"]["enum"].clone();
    assert!(states
        .as_array()
        .unwrap()
        .contains(&json!("handover_scheduled")));
    assert!(actions
        .as_array()
        .unwrap()
        .contains(&json!("return_to_draft")));
    // Exactly the states and actions the server knows, by their wire names.
    use passerelle::domain::lifecycle::{Action, State};
    assert_eq!(
        states,
        json!(State::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        actions,
        json!(Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>())
    );
    // A client that sends what the spec lists is understood.
    let n = spawn_node(NodeId::NeAnltp).await;
    let (id, tag) = n.draft(&ready_case()).await;
    let (_, v) = n
        .step(Caseworker, &id, &tag, json!({ "action": actions[0] }))
        .await;
    assert!(states.as_array().unwrap().contains(&v["state"]), "{v}");
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let res = n
        .request(Method::DELETE, "/api/v1/cases", Caseworker)
        .send()
        .await
        .unwrap();
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = n
        .request(
            Method::PATCH,
            &format!("/api/v1/cases/{}", uuid::Uuid::new_v4()),
            Caseworker,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = n
        .get("/api/v1/nothing/here", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // Out of range is a validation error like every other.
    let res = n
        .get("/api/v1/cases?limit=1000", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn the_jtwg_filters_take_a_plain_date() {
    let n = spawn_node(NodeId::NeAnltp).await;
    for path in [
        "/api/v1/jtwg/exchange?from=2026-01-01&to=2027-01-01",
        "/api/v1/jtwg/statistics?from=2026-01-01",
        "/api/v1/jtwg/checkpoints?to=2030-01-01T00:00:00Z",
        "/api/v1/jtwg/exchange?type=handover_acceptance",
    ] {
        let res = n.get(path, JtwgReviewer).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = n
        .get("/api/v1/jtwg/exchange?from=yesterday", JtwgReviewer)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    // The message type is one of the spec's.
    let res = n
        .get(
            "/api/v1/jtwg/exchange?type=HandoverAcceptance",
            JtwgReviewer,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

async fn get_cases(
    n: &TestNode,
    query: String,
    role: passerelle::domain::roles::Role,
) -> serde_json::Value {
    n.get_ok(&format!("/api/v1/cases?{query}"), role).await
}

/// Rules every operation of the spec keeps (so that a new endpoint cannot
/// forget them).
#[test]
fn every_operation_documents_its_refusals() {
    let spec: serde_json::Value = serde_json::from_str(&passerelle::api::openapi_json()).unwrap();
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    if !has(s) {
                        problems.push(format!("{method} {path}: body but no {s}"));
                    }
                }
            }
            if op.get("security").is_some() && !has("401") {
                problems.push(format!("{method} {path}: secured but no 401"));
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" && p["name"] == "id" && p["schema"]["format"] != "uuid" {
                    problems.push(format!("{method} {path}: `id` is not a UUID"));
                }
            }
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let problem = r["content"]["application/problem+json"].is_object();
                    if !problem {
                        problems.push(format!("{method} {path} {status}: not a problem document"));
                    }
                }
            }
        }
    }
    // Every `$ref` names a schema the spec defines.
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        if spec["components"]["schemas"].get(name).is_none() {
            problems.push(format!("dangling $ref {r}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn agencies_find_a_case_by_reference_referral_or_name() {
    let (ne, ng) = spawn_pair().await;
    let (ne_id, referral) = crate::exchange::refer(&ne).await;
    let (_, ng_id) = crate::exchange::both_in(&ne, &ng, referral, "received").await;
    ne.draft(&ready_case()).await;
    let reference = ne.read(Supervisor, &ne_id).await.1["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = |v: serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Abuja finds its copy by the reference Niamey quotes, or the referral id.
    assert_eq!(
        ids(get_cases(
            &ng,
            format!("reference={}", reference.to_lowercase()),
            Supervisor
        )
        .await),
        vec![ng_id.clone()]
    );
    assert_eq!(
        ids(get_cases(&ng, format!("referral_id={referral}"), Supervisor).await),
        vec![ng_id.clone()]
    );
    // By name, case-insensitively, for the roles that see names.
    assert_eq!(
        ids(get_cases(
            &ne,
            "name=qwerty&direction=outgoing&state=received".into(),
            Caseworker
        )
        .await),
        vec![ne_id.clone()]
    );
    assert!(ids(get_cases(&ne, "name=given_name".into(), Caseworker).await).is_empty());
    for role in [JtwgReviewer, Admin] {
        let res = ne
            .get("/api/v1/cases?name=zainab", role)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // The search term is in no log line and no audit entry.
    let entries = ne.audit_log().await;
    assert!(!serde_json::to_string(&entries).unwrap().contains("qwerty"));
}

#[tokio::test]
async fn a_case_read_shows_the_handover_plan_and_delivery() {
    let (ne, ng) = spawn_pair().await;
    let (ne_id, referral) = crate::exchange::refer(&ne).await;
    let (_, ng_id) = crate::exchange::both_in(&ne, &ng, referral, "received").await;
    crate::exchange::act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    crate::exchange::both_in(&ne, &ng, referral, "accepted").await;
    crate::exchange::act(
        &ng,
        Liaison,
        &ng_id,
        json!({ "action": "schedule_handover", "handover": handover_plan() }),
    )
    .await;
    crate::exchange::both_in(&ne, &ng, referral, "handover_scheduled").await;
    let (_, v, _) = ne.read(Supervisor, &ne_id).await;
    assert_eq!(v["handover_plan"]["round"], 1, "{v}");
    assert_eq!(v["handover_plan"]["status"], "proposed");
    assert_eq!(v["handover_plan"]["proposed_by"], "receiving");
    assert_eq!(v["handover_plan"]["plan"]["crossing_point"], "maradi_jibia");
    crate::exchange::all_settled(&ne, &ne_id).await;
    let (_, v, _) = ne.read(Supervisor, &ne_id).await;
    assert_eq!(v["delivery"]["delivered"], 1, "{v}");
    assert_eq!(v["delivery"]["pending"], 0);
    // A delivered message was tried at least once.
    for m in crate::exchange::messages(&ne, &ne_id).await {
        if m["direction"] == "outgoing" {
            assert!(m["attempts"].as_i64().unwrap() >= 1, "{m}");
        }
    }
    let (_, v, _) = ne.read(Liaison, &ne_id).await;
    assert_eq!(v["handover_plan"]["round"], 1);
    assert!(v["delivery"].is_null());
    let (_, v, _) = ne.read(JtwgReviewer, &ne_id).await;
    assert!(v["handover_plan"].is_null() && v["delivery"].is_null());
}
