//! Every class of malformed input gets a coded problem and loses nothing.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn malformed_requests_get_coded_problems() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let (id, tag) = n.draft(&ready_case()).await;
    let raw = |body: &'static str, ct: &'static str| {
        n.request(Method::POST, "/api/v1/cases", Caseworker)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        raw("{\"details\": {", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert_problem(
        raw("", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    let p = assert_problem(
        raw("{\"details\": {}, \"name\": \"x\"}", "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("name"));
    assert_problem(
        raw(
            "{\"details\": {\"consent\": {\"scope\": []}}}",
            "application/json",
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_problem(
        raw(
            "{\"details\": {\"dependants_count\": -1}}",
            "application/json",
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert_problem(
        raw("{}", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = format!(
        "{{\"details\": {{\"origin\": {{\"country\": \"NG\", \"region\": \"{}\"}}}}}}",
        "x".repeat(64 * 1024)
    );
    let res = n
        .request(Method::POST, "/api/v1/cases", Caseworker)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Semantic problems: every bad field reported at once.
    let res = n
        .create_case(Caseworker, &json!({ "details": { "sex": "f", "citizenship": "Nigeria", "languages": ["hausa"] }, "identity": { "phone": "1\u{0}2" } }))
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let mut fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "details.citizenship",
            "details.languages[0]",
            "details.sex",
            "identity.phone"
        ]
    );

    // Bad path and query parameters, unknown routes and methods.
    let res = n
        .get("/api/v1/cases/not-a-uuid", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
    let res = n
        .get(
            "/api/v1/cases/00000000-0000-7000-8000-000000000000",
            Caseworker,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "case_not_found").await;
    for q in [
        "?state=lost",
        "?overdue=maybe",
        "?colour=blue",
        "?created_from=yesterday",
        "?referral_id=not-a-uuid",
    ] {
        let res = n
            .get(&format!("/api/v1/cases{q}"), Caseworker)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    // A well-formed value out of its range is a validation error, as in bodies.
    for q in ["?limit=0", "?limit=1000", "?name=x"] {
        let res = n
            .get(&format!("/api/v1/cases{q}"), Caseworker)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = n
        .get("/api/v1/cases?cursor=zzz", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let res = n
        .get("/api/v1/nothing-here", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = n
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"), Caseworker)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = n
        .get("/api/v1/code-lists/nope", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = n
        .transition(Caseworker, &id, &tag, json!({ "action": "teleport" }))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;

    // Nothing above touched the committed case.
    let (status, v, etag) = n.read(Caseworker, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(etag.as_deref(), Some(tag.as_str()));
    assert_eq!(v["details"]["risk_level"], "high");
    assert_eq!(v["identity"]["given_name"], "Zainab");
    let list: Value = n
        .get("/api/v1/cases", Caseworker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}
