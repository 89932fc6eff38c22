//! The referral lifecycle through the API, on both sides of a referral.

use passerelle::domain::ids::NodeId;
use passerelle::domain::lifecycle::Action;
use passerelle::domain::roles::Role::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::exchange::eventually;
use crate::helpers::*;

fn kinds(events: &Value) -> Vec<String> {
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sending_side_drafts_submits_approves_and_queues_the_referral() {
    let (n, ng) = spawn_pair().await;
    // A draft may be incomplete…
    let (id, tag) = n.draft(&json!({ "details": { "sex": "female" } })).await;
    // …but cannot be submitted until consent and risk assessment are recorded.
    let res = n
        .transition(Caseworker, &id, &tag, json!({ "action": "submit" }))
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "case_incomplete").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"details.consent") && fields.contains(&"details.risk_level"),
        "{fields:?}"
    );

    let res = n
        .request(Method::PUT, &format!("/api/v1/cases/{id}"), Caseworker)
        .header("If-Match", &tag)
        .json(&ready_case())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tag = etag(&res);
    let (tag, v) = n
        .step(Caseworker, &id, &tag, json!({ "action": "submit" }))
        .await;
    assert_eq!(v["state"], "submitted");
    assert!(v["due_at"].is_string(), "approval has a time limit");
    // A caseworker cannot approve; a supervisor can.
    let res = n
        .transition(Caseworker, &id, &tag, json!({ "action": "approve" }))
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    let (_, v) = n
        .step(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "approve", "comment": "checked with the guardian" }),
        )
        .await;
    assert_eq!(v["state"], "approved");
    assert_eq!(
        v["allowed_actions"],
        json!(["cancel"]),
        "while the other side receives, only cancelling is possible"
    );

    // The referral reaches the other node with what the consent covers.
    let referral = v["referral_id"].as_str().unwrap().to_owned();
    let theirs = eventually("the referral at Abuja", || async {
        let v = ng
            .get_ok(&format!("/api/v1/cases?referral_id={referral}"), Supervisor)
            .await;
        v["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let (_, copy, _) = ng.read(Supervisor, &theirs).await;
    assert_eq!(copy["details"]["risk_level"], "high");
    assert_eq!(
        copy["identity"]["given_name"], "Zainab",
        "consent covers data sharing"
    );

    // The receiving node's receipt moves it to received.
    eventually("received at Niamey", || async {
        let (_, v, _) = n.read(Supervisor, &id).await;
        (v["state"] == "received").then_some(())
    })
    .await;
    let (_, v, _) = n.read(Supervisor, &id).await;
    assert_eq!(v["state"], "received");
    assert_eq!(v["allowed_actions"], json!(["cancel", "put_on_hold"]));
    let (_, _, tag) = n.read(Supervisor, &id).await;
    // The sending side cannot accept its own referral.
    let res = n
        .transition(
            Supervisor,
            &id,
            &tag.unwrap(),
            json!({ "action": "accept" }),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_side").await;

    let events: Value = n
        .get(&format!("/api/v1/cases/{id}/events"), Caseworker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        kinds(&events),
        ["created", "edited", "submit", "approve", "mark_received"]
    );
    assert_eq!(events["items"][3]["comment"], "checked with the guardian");
    assert_eq!(events["items"][4]["actor_kind"], "peer");
}

#[tokio::test]
async fn receiving_side_takes_a_referral_through_handover_to_closure() {
    let n = spawn_node(NodeId::NgNaptip).await;
    let case = n.receive_referral(ready_details(), Some(identity())).await;
    let id = case.id.to_string();
    let (status, v, tag) = n.read(Supervisor, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v["state"].as_str(), v["direction"].as_str()),
        (Some("received"), Some("incoming"))
    );
    assert_eq!(v["identity"]["family_name"], "Qwertyson");

    let (tag, v) = n
        .step(
            Caseworker,
            &id,
            &tag.unwrap(),
            json!({ "action": "request_info" }),
        )
        .await;
    assert_eq!(v["state"], "info_requested");
    let case = n.peer_applies(case.referral_id, Action::ProvideInfo).await;
    assert_eq!(case.state.as_str(), "received");
    let res = n
        .transition(Supervisor, &id, &tag, json!({ "action": "accept" }))
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    let (_, _, tag) = n.read(Supervisor, &id).await;
    let (tag, v) = n
        .step(
            Supervisor,
            &id,
            &tag.unwrap(),
            json!({ "action": "accept" }),
        )
        .await;
    assert_eq!(v["state"], "accepted");
    // A handover is scheduled with a plan.
    let res = n
        .transition(Liaison, &id, &tag, json!({ "action": "schedule_handover" }))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let (_, v) = n
        .step(
            Liaison,
            &id,
            &tag,
            json!({ "action": "schedule_handover", "handover": handover_plan() }),
        )
        .await;
    assert_eq!(v["state"], "handover_scheduled");
    // This side proposed it: only the other side may accept it.
    let tag = n.read(Supervisor, &id).await.2.unwrap();
    // Without the case's ETag, nothing is decided.
    let res = n
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{id}/handover/acceptance"),
            Liaison,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PRECONDITION_REQUIRED, "if_match_required").await;
    let res = n
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{id}/handover/acceptance"),
            Liaison,
        )
        .header("If-Match", tag)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::CONFLICT, "own_handover_proposal").await;
    n.peer_accepts_handover(case.referral_id).await;
    // Departure is recorded by the sending side's liaison: here it arrives from the peer.
    let (_, _, tag) = n.read(Liaison, &id).await;
    let res = n
        .transition(Liaison, &id, &tag.unwrap(), json!({ "action": "depart" }))
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_side").await;
    n.peer_applies(case.referral_id, Action::Depart).await;
    let (_, v, tag) = n.read(Liaison, &id).await;
    assert_eq!(v["state"], "in_transit");
    assert_eq!(v["handover"]["given_name"], "Zainab");
    assert!(v["details"].is_null() && v["identity"].is_null());
    // This side's liaison confirms; the handover is complete only when the
    // sending side's liaison has confirmed too.
    let (_, v) = n
        .step(
            Liaison,
            &id,
            &tag.unwrap(),
            json!({ "action": "confirm_handover" }),
        )
        .await;
    assert_eq!(v["state"], "in_transit");
    n.peer_applies(case.referral_id, Action::ConfirmHandover)
        .await;
    let (_, v, tag) = n.read(Caseworker, &id).await;
    assert_eq!(v["state"], "handed_over");
    let tag = tag.unwrap();
    let (tag, _) = n
        .step(
            Caseworker,
            &id,
            &tag,
            json!({ "action": "start_assistance" }),
        )
        .await;
    let (tag, v) = n
        .step(
            Caseworker,
            &id,
            &tag,
            json!({ "action": "start_reintegration_monitoring" }),
        )
        .await;
    assert_eq!(v["state"], "reintegration_monitoring");
    // Closing needs an outcome and a coded reason.
    let res = n
        .transition(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "close", "reason_code": "reintegrated" }),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "outcome");
    let (_, v) = n
        .step(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "close", "reason_code": "reintegrated", "outcome": "successful" }),
        )
        .await;
    assert_eq!(
        (v["state"].as_str(), v["closure_outcome"].as_str()),
        (Some("closed"), Some("successful"))
    );
    assert_eq!(v["allowed_actions"], json!([]));
    assert!(v["due_at"].is_null() && v["overdue"] == false);

    let events: Value = n
        .get(&format!("/api/v1/cases/{id}/events"), Supervisor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        kinds(&events),
        [
            "received",
            "request_info",
            "provide_info",
            "accept",
            "schedule_handover",
            "handover_agreed",
            "depart",
            "handover_confirmed",
            "confirm_handover",
            "start_assistance",
            "start_reintegration_monitoring",
            "close"
        ]
    );
    // Every change made here that the sending node must learn of was queued, in
    // order; what the sending node reported (provide_info, depart) is not echoed back.
    assert_eq!(
        sent_types(&n, &id).await,
        [
            "info_request",
            "decision",
            "handover_proposal",
            "arrival",
            "repatriation_update",
            "reintegration_update",
            "closure"
        ]
    );
}

#[tokio::test]
async fn decline_hold_resume_cancel_and_entered_in_error() {
    let n = spawn_node(NodeId::NgNaptip).await;
    // Decline needs a coded reason.
    let c = n.receive_referral(ready_details(), None).await;
    let id = c.id.to_string();
    let (_, _, tag) = n.read(Supervisor, &id).await;
    let tag = tag.unwrap();
    let res = n
        .transition(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "decline", "reason_code": "because" }),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let (tag, v) = n
        .step(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "decline", "reason_code": "no_capacity" }),
        )
        .await;
    assert_eq!(
        (v["state"].as_str(), v["reason_code"].as_str()),
        (Some("declined"), Some("no_capacity"))
    );
    // Declined is final.
    let res = n
        .transition(Supervisor, &id, &tag, json!({ "action": "accept" }))
        .await;
    assert_problem(res, StatusCode::CONFLICT, "transition_not_allowed").await;

    // On hold resumes to where it was.
    let c = n.receive_referral(ready_details(), None).await;
    let id = c.id.to_string();
    let (_, _, tag) = n.read(Supervisor, &id).await;
    let (tag, _) = n
        .step(
            Supervisor,
            &id,
            &tag.unwrap(),
            json!({ "action": "accept" }),
        )
        .await;
    let (tag, v) = n
        .step(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "put_on_hold", "reason_code": "border_closed" }),
        )
        .await;
    assert_eq!(
        (v["state"].as_str(), v["hold_from_state"].as_str()),
        (Some("on_hold"), Some("accepted"))
    );
    let (_, v) = n
        .step(Supervisor, &id, &tag, json!({ "action": "resume" }))
        .await;
    assert_eq!(v["state"], "accepted");
    // The sending side cancels; here it arrives from the peer.
    let case = n
        .peer_applies_with(
            c.referral_id,
            Action::Cancel,
            json!({ "reason_code": "victim_withdrew" }),
        )
        .await;
    assert_eq!(case.state.as_str(), "cancelled");

    // On the sending side a draft entered in error never reaches the other node.
    let s = spawn_node(NodeId::NeAnltp).await;
    let (id, tag) = s.draft(&ready_case()).await;
    let res = s
        .transition(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "mark_entered_in_error" }),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let (_, v) = s
        .step(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "mark_entered_in_error", "reason_code": "duplicate_record" }),
        )
        .await;
    assert_eq!(v["state"], "entered_in_error");
    assert!(sent_types(&s, &id).await.is_empty());
    // A draft that was approved is cancelled, and the cancellation is queued after the referral.
    let (id, tag) = s.draft(&ready_case()).await;
    let (tag, _) = s
        .step(Caseworker, &id, &tag, json!({ "action": "submit" }))
        .await;
    let (tag, _) = s
        .step(Supervisor, &id, &tag, json!({ "action": "approve" }))
        .await;
    let res = s
        .transition(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "mark_entered_in_error", "reason_code": "duplicate_record" }),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "transition_not_allowed").await;
    let (_, v) = s
        .step(
            Supervisor,
            &id,
            &tag,
            json!({ "action": "cancel", "reason_code": "referred_elsewhere" }),
        )
        .await;
    assert_eq!(v["state"], "cancelled");
    assert_eq!(
        sent_types(&s, &id).await,
        ["referral_request", "cancellation"]
    );
    // Drafts can only be edited while they are drafts.
    let (_, _, tag) = s.read(Caseworker, &id).await;
    let res = s
        .request(Method::PUT, &format!("/api/v1/cases/{id}"), Caseworker)
        .header("If-Match", tag.unwrap())
        .json(&ready_case())
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::CONFLICT, "case_not_editable").await;
}

#[tokio::test]
async fn list_filters_overdue_and_paginates() {
    // The receiving agency's decision is due at once: a referral received
    // here is past its limit as soon as it arrives.
    let n = spawn_node_with(
        NodeId::NeAnltp,
        std::sync::Arc::new(|s: &mut passerelle::config::Settings| {
            s.deadlines.received_hours = Some(0)
        }),
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(n.draft(&json!({})).await.0);
    }
    // An incoming referral, past its decision limit.
    let old = n.receive_referral(ready_details(), None).await;

    let list = |q: &'static str| {
        let n = &n;
        async move {
            let res = n
                .get(&format!("/api/v1/cases{q}"), Supervisor)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    let ids_of = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let overdue = list("?overdue=true").await;
    assert_eq!(ids_of(&overdue), [old.id.to_string()]);
    assert_eq!(overdue["items"][0]["overdue"], true);
    assert_eq!(ids_of(&list("?overdue=false").await).len(), 5);
    assert_eq!(
        ids_of(&list("?direction=incoming").await),
        [old.id.to_string()]
    );
    assert_eq!(
        ids_of(&list("?direction=outgoing&state=draft").await).len(),
        5
    );
    assert_eq!(ids_of(&list("?state=closed").await).len(), 0);
    assert_eq!(
        ids_of(&list("?created_to=2000-01-01T00:00:00Z").await).len(),
        0
    );
    assert_eq!(
        ids_of(&list("?created_from=2000-01-01T00:00:00Z").await).len(),
        6
    );

    // Pages of two, newest first, no duplicates, no gaps.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/cases?direction=outgoing&limit=2&cursor={c}"),
            None => "/api/v1/cases?direction=outgoing&limit=2".into(),
        };
        let v: Value = n
            .get(&q, Caseworker)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(ids_of(&v));
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    ids.reverse();
    assert_eq!(seen, ids);
}
