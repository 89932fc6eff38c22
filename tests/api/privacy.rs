//! The JTWG role never receives personal data, on any endpoint it can reach.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Values of the test case that identify or describe the person.
const PERSONAL: &[&str] = &[
    "Zainab",
    "Qwertyson",
    "+2348012345678",
    "Kofar Mata",
    "Dala",
    "Kano",
    "domestic_servitude",
    "unaccompanied_minor",
    "safe_shelter",
    "15_17",
    "female",
    "hau",
    "guardian",
    "the guardian confirmed by phone",
    "medical_treatment",
];

#[tokio::test]
async fn the_jtwg_role_never_sees_personal_data() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let (id, tag) = n.draft(&ready_case()).await;
    n.step(
        Caseworker,
        &id,
        &tag,
        json!({ "action": "submit", "comment": "the guardian confirmed by phone" }),
    )
    .await;
    // An incoming case too.
    let incoming = n
        .receive_referral(ready_details(), Some(identity()))
        .await
        .id
        .to_string();
    // A reason code can say much about a person: put the incoming case on hold for medical treatment.
    let (_, _, tag) = n.read(Supervisor, &incoming).await;
    n.step(
        Supervisor,
        &incoming,
        &tag.unwrap(),
        json!({ "action": "put_on_hold", "reason_code": "medical_treatment" }),
    )
    .await;

    // Sanity: a caseworker does see these values, so their absence below means something.
    let (_, full, _) = n.read(Caseworker, &id).await;
    let full_text = full.to_string();
    assert!(full_text.contains("Zainab") && full_text.contains("Dala"));

    let mut bodies = Vec::new();
    for path in [
        "/api/v1/cases".to_owned(),
        "/api/v1/cases?state=submitted".to_owned(),
        format!("/api/v1/cases/{id}"),
        format!("/api/v1/cases/{id}/events"),
        format!("/api/v1/cases/{incoming}"),
        format!("/api/v1/cases/{incoming}/events"),
        "/api/v1/me".to_owned(),
        "/api/v1/code-lists".to_owned(),
    ] {
        let res = n.get(&path, JtwgReviewer).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body: Value = res.json().await.unwrap();
        if !path.contains("code-lists") {
            let text = body.to_string();
            for value in PERSONAL {
                assert!(
                    !text.contains(value),
                    "{path} leaks `{value}` to the JTWG: {text}"
                );
            }
        }
        bodies.push(body);
    }
    let case = &bodies[2];
    assert_eq!(case["state"], "submitted");
    assert!(case["details"].is_null() && case["identity"].is_null() && case["handover"].is_null());
    assert!(bodies[3]["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["comment"].is_null() && e["actor_user_id"].is_null()));
    // And it can change nothing.
    let res = n.create_case(JtwgReviewer, &ready_case()).await;
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
}
