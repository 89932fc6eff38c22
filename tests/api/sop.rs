//! The joint SOP end to end: the consent gate, consent withdrawal and
//! erasure, both languages.

use passerelle::domain::envelope::GENESIS_HASH;
use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::exchange::*;
use crate::helpers::*;

#[tokio::test]
async fn a_message_carrying_more_than_its_consent_covers_is_refused() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    // The consent covers referral and data sharing, not follow-up contact:
    // a phone number may not travel.
    let mut env = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    env.payload["identity"] = json!({ "given_name": "Zainab", "phone": "+2348012345678" });
    let res = ne.post_batch(&[ne.sign(&env)]).await;
    let p = assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "consent_scope_exceeded",
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("identity.phone"),
        "{p}"
    );
    // A field no referral request declares.
    let mut env = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    env.payload["details"]["diagnosis"] = json!("tuberculosis");
    let res = ne.post_batch(&[ne.sign(&env)]).await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "consent_scope_exceeded",
    )
    .await;
    // Without a consent covering the referral, nothing is taken in.
    let mut env = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    env.payload["details"]["consent"]["scope"] = json!(["data_sharing"]);
    let res = ne.post_batch(&[ne.sign(&env)]).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    assert_eq!(case_count(&ng).await, 0);
    // Within scope, the same referral is taken.
    let env = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    let res = ne.post_batch(&[ne.sign(&env)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(case_count(&ng).await, 1);
}

#[tokio::test]
async fn the_sender_keeps_back_what_the_consent_does_not_cover() {
    let (ne, ng) = spawn_pair().await;
    let (_, referral) = refer(&ne).await;
    let (_, ng_id) = both_in(&ne, &ng, referral, "received").await;
    let (_, copy, _) = ng.read(Supervisor, &ng_id).await;
    // data_sharing: names travel; no follow_up_contact / family_tracing: phone and address do not.
    assert_eq!(copy["identity"]["given_name"], "Zainab");
    assert!(copy["identity"]["phone"].is_null(), "{copy}");
    assert!(copy["identity"]["family_address"].is_null(), "{copy}");
}

#[tokio::test]
async fn withdrawing_consent_mid_case_erases_the_data_on_both_nodes_and_the_logs_still_verify() {
    let (ne, ng) = spawn_pair().await;
    let (ne_id, ng_id, referral) =
        crate::exchange::refer_and_accept(&ne, &ng, "Zainab's aunt in Dala called").await;
    let (_, copy, _) = ng.read(Supervisor, &ng_id).await;
    assert_eq!(copy["identity"]["given_name"], "Zainab");
    // The person withdraws consent, telling Niamey.
    let erased = crate::exchange::withdraw_consent(&ne, &ne_id).await;
    assert!(erased["identity"].is_null());
    assert!(erased["erased_at"].is_string());
    // Abuja erases its copy and confirms; the skeleton stays.
    let copy = eventually("Abuja erased its copy", || async {
        let (_, c, _) = ng.read(Supervisor, &ng_id).await;
        c["erased_at"].is_string().then_some(c)
    })
    .await;
    assert_eq!(copy["state"], "accepted");
    assert!(copy["identity"].is_null());
    for p in [
        "Zainab",
        "Qwertyson",
        "Kano",
        "Dala",
        "domestic_servitude",
        "female",
    ] {
        for path in [
            format!("/api/v1/cases/{ng_id}"),
            format!("/api/v1/cases/{ng_id}/events"),
            format!("/api/v1/cases/{ng_id}/messages"),
        ] {
            let body = ng
                .get(&path, Supervisor)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!body.contains(p), "{path} still holds {p}");
        }
        // Not in the stored messages either.
        let stored = ng
            .db
            .read_blocking(|c| {
                use diesel::prelude::*;
                use passerelle::store::schema::{case_identities, inbox_messages};
                let bodies: Vec<String> =
                    inbox_messages::table.select(inbox_messages::body).load(c)?;
                let ids: i64 = case_identities::table.count().get_result(c)?;
                Ok::<_, passerelle::store::DbError>((bodies.join(" "), ids))
            })
            .unwrap();
        assert!(!stored.0.contains(p), "Abuja's inbox still holds {p}");
        assert_eq!(stored.1, 0);
    }
    // Niamey hears that Abuja erased its copy.
    eventually("Niamey records the confirmation", || async {
        let v: serde_json::Value = ne
            .get(&format!("/api/v1/cases/{ne_id}/events"), Supervisor)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "erasure_confirmed")
            .then_some(())
    })
    .await;
    // Both audit logs still verify offline.
    for n in [&ne, &ng] {
        let res = n
            .request(reqwest::Method::POST, "/api/v1/audit/checkpoints", Admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        crate::audit::verify(&crate::audit::export(n)).expect("the audit log still verifies");
    }
    // A second withdrawal is refused: there is nothing left to erase.
    let res = ne
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{ne_id}/consent-withdrawal"),
            Caseworker,
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::CONFLICT, "personal_data_erased").await;
    // The referral ends: no handover of a person whose data is gone, on
    // either side; it can still be closed off.
    let (_, copy, tag) = ng.read(Supervisor, &ng_id).await;
    let allowed: Vec<&str> = copy["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(!allowed.contains(&"schedule_handover"), "{allowed:?}");
    let res = ng
        .transition(
            Supervisor,
            &ng_id,
            &tag.unwrap(),
            json!({ "action": "schedule_handover", "handover": handover_plan() }),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "personal_data_erased").await;
    let (_, v, tag) = ne.read(Supervisor, &ne_id).await;
    assert!(
        v["allowed_actions"]
            .as_array()
            .unwrap()
            .contains(&json!("cancel")),
        "{v}"
    );
    ne.step(
        Supervisor,
        &ne_id,
        &tag.unwrap(),
        json!({ "action": "cancel", "reason_code": "consent_withdrawn" }),
    )
    .await;
    crate::exchange::both_in(&ne, &ng, referral, "cancelled").await;
}

#[tokio::test]
async fn a_step_past_its_time_limit_is_recorded_once_in_the_audit_log() {
    // The supervisor's approval is due at once, and the node looks every second.
    let (ne, _ng) = spawn_pair_with(
        std::sync::Arc::new(|s: &mut passerelle::config::Settings| {
            s.deadlines.submitted_hours = Some(0);
            s.deadlines.check_interval_secs = 1;
        }),
        no_tweak(),
    )
    .await;
    let (id, _) = ne.draft(&ready_case()).await;
    let tag = etag(
        &ne.get(&format!("/api/v1/cases/{id}"), Caseworker)
            .send()
            .await
            .unwrap(),
    );
    ne.step(Caseworker, &id, &tag, json!({ "action": "submit" }))
        .await;
    // The node's own timer finds it…
    crate::exchange::eventually("the overdue step in the audit log", || async {
        ne.audit_log()
            .await
            .iter()
            .any(|e| e.kind == "deadline_overdue")
            .then_some(())
    })
    .await;
    // …and records it once, however many times it looks again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let entries = ne.audit_log().await;
    let overdue: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "deadline_overdue")
        .collect();
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].action, "submitted");
    assert_eq!(overdue[0].case_id.as_deref(), Some(id.as_str()));
    // Listed among the overdue cases, and counted (suppressed: one case) for the JTWG.
    let list: serde_json::Value = ne
        .get("/api/v1/cases?overdue=true", Supervisor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let stats: serde_json::Value = ne
        .get("/api/v1/jtwg/statistics", JtwgReviewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["overdue_by_state"][0]["key"], "submitted");
    assert_eq!(stats["overdue_by_state"][0]["suppressed"], true);
}

#[tokio::test]
async fn the_same_endpoints_answer_in_french_or_english() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let get = |path: String, lang: &'static str| {
        n.get(&path, Caseworker)
            .header("Accept-Language", lang)
            .send()
    };
    // Code lists: the label in the language asked for, stable codes.
    let fr = get(
        "/api/v1/code-lists/consent_scope".into(),
        "fr-NE,fr;q=0.9,en;q=0.5",
    )
    .await
    .unwrap();
    assert_eq!(fr.headers()["content-language"], "fr");
    let fr: serde_json::Value = fr.json().await.unwrap();
    let en: serde_json::Value = get("/api/v1/code-lists/consent_scope".into(), "en-GB")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fr["title"], "Portée du consentement");
    assert_eq!(en["title"], "Scope of consent");
    assert_eq!(fr["entries"][0]["code"], en["entries"][0]["code"]);
    assert_eq!(fr["entries"][0]["label"], "Orientation vers l'autre agence");
    // States.
    let (id, _) = n.draft(&ready_case()).await;
    let fr: serde_json::Value = get(format!("/api/v1/cases/{id}"), "fr")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let en: serde_json::Value = get(format!("/api/v1/cases/{id}"), "en")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (fr["state"].as_str(), en["state"].as_str()),
        (Some("draft"), Some("draft"))
    );
    assert_eq!(en["state_label"], "Draft");
    assert_eq!(fr["state_label"], "Brouillon");
    // Errors: same code, title in the language asked for.
    let missing = format!("/api/v1/cases/{}", uuid::Uuid::now_v7());
    let fr = get(missing.clone(), "fr").await.unwrap();
    let fr = assert_problem(fr, StatusCode::NOT_FOUND, "case_not_found").await;
    let en = assert_problem(
        get(missing, "en").await.unwrap(),
        StatusCode::NOT_FOUND,
        "case_not_found",
    )
    .await;
    assert_ne!(fr["title"], en["title"]);
    assert_eq!(fr["detail"], "Aucun dossier avec cet identifiant.");
    assert_ne!(en["detail"], fr["detail"]);
    assert_eq!(
        en["title"],
        passerelle::domain::problem::ProblemCode::CaseNotFound
            .title(passerelle::domain::i18n::Lang::En)
    );
    assert_eq!(
        fr["title"],
        passerelle::domain::problem::ProblemCode::CaseNotFound
            .title(passerelle::domain::i18n::Lang::Fr)
    );
    // Field messages too, codes unchanged.
    let res = n
        .request(reqwest::Method::POST, "/api/v1/cases", Caseworker)
        .header("Accept-Language", "fr")
        .json(&json!({ "details": { "sex": "unknown-sex" } }))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "unknown_code", "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("La valeur du champ `details.sex`"),
        "{p}"
    );
    // Extractor errors too.
    let res = n
        .request(reqwest::Method::POST, "/api/v1/cases", Caseworker)
        .header("Accept-Language", "fr")
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert_eq!(
        p["title"],
        passerelle::domain::problem::ProblemCode::MalformedJson
            .title(passerelle::domain::i18n::Lang::Fr)
    );
    // Workflow refusals keep their particulars (the state, the action, the
    // version) in French.
    let (id, etag) = n.draft(&ready_case()).await;
    let refuse = |body: serde_json::Value, etag: &str| {
        n.request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{id}/transitions"),
            Supervisor,
        )
        .header("Accept-Language", "fr")
        .header("If-Match", etag)
        .json(&body)
        .send()
    };
    let res = refuse(json!({ "action": "approve" }), &etag).await.unwrap();
    let p = assert_problem(res, StatusCode::CONFLICT, "transition_not_allowed").await;
    assert_eq!(
        p["detail"],
        "Un dossier à l'état « Brouillon » ne permet pas l'action « Approuver et envoyer »."
    );
    let res = refuse(json!({ "action": "submit" }), "\"99\"")
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    assert!(
        p["detail"].as_str().unwrap().contains("version actuelle 1"),
        "{p}"
    );
    let res = n
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{id}/transitions"),
            Caseworker,
        )
        .header("Accept-Language", "fr")
        .header("If-Match", etag.clone())
        .json(&json!({ "action": "return_to_draft", "reason_code": "incomplete" }))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    assert_eq!(
        p["detail"],
        "Le rôle « Chargé(e) de dossier » ne permet pas l'action « Renvoyer en brouillon »."
    );
}

async fn post_json(
    n: &TestNode,
    role: passerelle::domain::roles::Role,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut req = n.request(reqwest::Method::POST, path, role);
    if path.contains("/handover/") {
        // Negotiation answers the case as it was read.
        let id = path.split('/').nth(4).unwrap();
        let tag = n.read(Supervisor, id).await.2.unwrap();
        req = req.header("If-Match", tag);
    }
    // `null`: an operation that takes no body.
    let req = if body.is_null() { req } else { req.json(&body) };
    let res = req.send().await.unwrap();
    let status = res.status();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {v}");
    v
}

async fn get_json(
    n: &TestNode,
    role: passerelle::domain::roles::Role,
    path: &str,
) -> serde_json::Value {
    n.get(path, role)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_minor_is_referred_handed_over_followed_up_and_closed_under_the_joint_sop() {
    let (ne, ng) = spawn_pair().await;
    // A minor: the guardian's consent, covering family tracing and follow-up contact.
    let mut case = ready_case();
    case["details"]["consent"]["scope"] = json!([
        "referral",
        "data_sharing",
        "family_tracing",
        "follow_up_contact"
    ]);
    assert_eq!(case["details"]["minor"], true);
    assert_eq!(case["details"]["consent"]["given_by"], "guardian");
    let (ne_id, tag) = ne.draft(&case).await;
    let (tag, _) = ne
        .step(Caseworker, &ne_id, &tag, json!({ "action": "submit" }))
        .await;
    let (_, v) = ne
        .step(Supervisor, &ne_id, &tag, json!({ "action": "approve" }))
        .await;
    let referral = v["referral_id"].as_str().unwrap().parse().unwrap();
    let (_, ng_id) = both_in(&ne, &ng, referral, "received").await;
    // Decision.
    act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    both_in(&ne, &ng, referral, "accepted").await;
    // Abuja proposes a handover; Niamey counter-proposes; Abuja accepts.
    act(
        &ng,
        Liaison,
        &ng_id,
        json!({ "action": "schedule_handover", "handover": handover_plan() }),
    )
    .await;
    both_in(&ne, &ng, referral, "handover_scheduled").await;
    let today = chrono::Utc::now().date_naive();
    // The handover is addressed to a shelter of Abuja's directory.
    let shelter = uuid::Uuid::now_v7().to_string();
    post_json(
        &ne,
        Liaison,
        &format!("/api/v1/cases/{ne_id}/handover/counter-proposal"),
        json!({ "crossing_point": "konni_illela", "window_from": today, "window_to": today + chrono::Duration::days(2), "escorts": ["anltp_tim", "dst_police"], "receiving_service": shelter }),
    )
    .await;
    eventually("Abuja has the counter-proposal", || async {
        let b = get_json(&ng, Liaison, "/api/v1/handovers").await;
        (b["items"][0]["plan"]["crossing_point"] == "konni_illela"
            && b["items"][0]["plan"]["receiving_service"] == shelter.as_str())
        .then_some(())
    })
    .await;
    post_json(
        &ng,
        Liaison,
        &format!("/api/v1/cases/{ng_id}/handover/acceptance"),
        json!(null),
    )
    .await;
    eventually("Niamey has the plan agreed", || async {
        let b = get_json(&ne, Liaison, "/api/v1/handovers").await;
        (b["items"][0]["plan_status"] == "agreed").then_some(())
    })
    .await;
    // Departure (Niamey's liaison), then both liaisons confirm.
    act(&ne, Liaison, &ne_id, json!({ "action": "depart" })).await;
    both_in(&ne, &ng, referral, "in_transit").await;
    act(
        &ng,
        Liaison,
        &ng_id,
        json!({ "action": "confirm_handover" }),
    )
    .await;
    let (_, v, _) = ng.read(Caseworker, &ng_id).await;
    assert_eq!(v["state"], "in_transit", "one confirmation is not enough");
    eventually("Niamey has Abuja's confirmation", || async {
        let b = get_json(&ne, Liaison, "/api/v1/handovers").await;
        b["items"][0]["receiving_confirmation"]
            .is_object()
            .then_some(())
    })
    .await;
    act(
        &ne,
        Liaison,
        &ne_id,
        json!({ "action": "confirm_handover" }),
    )
    .await;
    both_in(&ne, &ng, referral, "handed_over").await;
    for n in [&ne, &ng] {
        let b = get_json(n, Liaison, "/api/v1/handovers").await;
        assert!(
            b["items"].as_array().unwrap().is_empty(),
            "no mismatch: {b}"
        );
    }
    // Repatriation: family traced and assessed, return plan.
    post_json(
        &ng,
        Caseworker,
        &format!("/api/v1/cases/{ng_id}/repatriation"),
        json!({ "family_tracing": "found", "family_assessment": "suitable", "risk_level": "medium", "travel_document_status": "no_document", "return_plan": "family_reunification" }),
    )
    .await;
    act(
        &ng,
        Caseworker,
        &ng_id,
        json!({ "action": "start_assistance" }),
    )
    .await;
    act(
        &ng,
        Caseworker,
        &ng_id,
        json!({ "action": "start_reintegration_monitoring" }),
    )
    .await;
    both_in(&ne, &ng, referral, "reintegration_monitoring").await;
    // Three follow-ups, sent back to Niamey.
    for (number, outcome) in [
        (1, "needs_support"),
        (2, "reintegrating_well"),
        (3, "reintegrating_well"),
    ] {
        post_json(
            &ng,
            Caseworker,
            &format!("/api/v1/cases/{ng_id}/follow-ups"),
            json!({ "number": number, "outcome": outcome, "risk_level": "low", "services": ["education"] }),
        )
        .await;
    }
    let reports = eventually("Niamey has the three follow-ups", || async {
        let r = get_json(&ne, Caseworker, &format!("/api/v1/cases/{ne_id}/reports")).await;
        r["follow_ups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["report"].is_object())
            .then_some(r)
    })
    .await;
    assert_eq!(
        reports["follow_ups"][0]["report"]["outcome"],
        "needs_support"
    );
    assert_eq!(
        reports["repatriation"][0]["report"]["family_tracing"],
        "found"
    );
    assert_eq!(reports["repatriation"][0]["by"], "receiving");
    assert_eq!(reports["repatriation"][0]["current"], true);
    // The case read shows the schedule too: three follow-ups, all done.
    let (_, case, _) = ng.read(Caseworker, &ng_id).await;
    let follow_ups = case["follow_ups"].as_array().unwrap();
    assert_eq!(follow_ups.len(), 3, "{case}");
    assert!(follow_ups
        .iter()
        .all(|f| f["recorded_at"].is_string() && f["overdue"] == false && f["due_on"].is_string()));
    assert!(ng.read(JtwgReviewer, &ng_id).await.1["follow_ups"].is_null());
    // Follow-ups are the receiving side's, and the refusal says so.
    let res = ne
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{ne_id}/follow-ups"),
            Caseworker,
        )
        .json(&json!({ "number": 1, "outcome": "needs_support", "risk_level": "low", "services": ["education"] }))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::FORBIDDEN, "wrong_side").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("follow-ups are recorded by the receiving side"),
        "{p}"
    );
    // Closure with an outcome and a coded reason.
    act(
        &ng,
        Supervisor,
        &ng_id,
        json!({ "action": "close", "reason_code": "reintegrated", "outcome": "successful" }),
    )
    .await;
    both_in(&ne, &ng, referral, "closed").await;
    all_settled(&ne, &ne_id).await;
    all_settled(&ng, &ng_id).await;
    // Both audit logs: cosigned, every message matched, verifiable offline.
    for n in [&ne, &ng] {
        let round = post_json(n, Admin, "/api/v1/audit/checkpoints", json!(null)).await;
        assert_eq!(round["cosigned"], round["size"]);
        let r = get_json(n, JtwgReviewer, "/api/v1/jtwg/reconciliation").await;
        let rows = r["rows"].as_array().unwrap();
        assert!(rows.len() >= 14, "{r}");
        assert!(rows.iter().all(|x| x["status"] == "matched"), "{r}");
        crate::audit::verify(&crate::audit::export(n)).expect("the audit log verifies");
    }
}

#[tokio::test]
async fn the_directory_shows_the_other_sides_shelters_with_current_places() {
    let (ne, ng) = spawn_pair().await;
    let post = |n: &TestNode, role, path: &str, body: serde_json::Value| {
        n.request(reqwest::Method::POST, path, role)
            .json(&body)
            .send()
    };
    let org: serde_json::Value = post(
        &ng,
        Supervisor,
        "/api/v1/directory/organizations",
        json!({ "name": "NAPTIP Kano zonal command", "org_type": "government_agency" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let org_id = org["id"].as_str().unwrap();
    let res = post(
        &ng,
        Supervisor,
        &format!("/api/v1/directory/organizations/{org_id}/services"),
        json!({ "name": "NAPTIP shelter, Kano", "service_type": "shelter", "region": "Kano", "district": "Nassarawa",
                "phone": "+234 803 000 0000", "email": "kano@naptip.example", "is_shelter": true,
                "capacity": { "adults": 4, "children": 6, "women": 2 } }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let shelter: serde_json::Value = res.json().await.unwrap();
    // Invalid entries and the wrong role are refused.
    let res = post(&ng, Supervisor, &format!("/api/v1/directory/organizations/{org_id}/services"), json!({ "name": "x", "service_type": "spa", "is_shelter": false, "capacity": { "adults": 1, "children": 1, "women": 1 } })).await.unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = post(
        &ng,
        Caseworker,
        "/api/v1/directory/organizations",
        json!({ "name": "x", "org_type": "ngo" }),
    )
    .await
    .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    // Niamey's liaison, planning a handover, finds Abuja's shelters near Kano.
    let found: serde_json::Value = ne
        .get("/api/v1/directory?side=peer&shelter=true&q=kano", Liaison)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let side = &found["sides"][0];
    assert_eq!(side["node"], "ng-naptip");
    assert_eq!(side["reachable"], true);
    let svc = &side["organizations"][0]["services"][0];
    assert_eq!(svc["capacity"]["children"], 6);
    assert_eq!(svc["contact"]["email"], "kano@naptip.example");
    // Abuja keeps the places current; Niamey sees the change at once.
    let res = ng
        .request(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/directory/services/{}/capacity",
                shelter["id"].as_str().unwrap()
            ),
            Supervisor,
        )
        .json(&json!({ "adults": 4, "children": 0, "women": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let found: serde_json::Value = ne
        .get(
            "/api/v1/directory?side=all&service_type=shelter",
            Caseworker,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["sides"][0]["node"], "ne-anltp");
    assert_eq!(
        found["sides"][1]["organizations"][0]["services"][0]["capacity"]["children"],
        0
    );
}

#[tokio::test]
async fn a_follow_up_past_its_due_date_is_recorded_once_in_the_audit_log() {
    use passerelle::domain::lifecycle::Action;
    // Abuja receives a referral from the other node (the fake peer plays
    // Niamey) and takes it to reintegration monitoring; its timer looks
    // every second.
    let ng = spawn_node_with(
        NodeId::NgNaptip,
        std::sync::Arc::new(|s: &mut passerelle::config::Settings| {
            s.deadlines.check_interval_secs = 1;
        }),
    )
    .await;
    let case = ng.receive_referral(ready_details(), None).await;
    let id = case.id.to_string();
    let referral = case.referral_id;
    act(&ng, Supervisor, &id, json!({ "action": "accept" })).await;
    act(
        &ng,
        Liaison,
        &id,
        json!({ "action": "schedule_handover", "handover": handover_plan() }),
    )
    .await;
    ng.peer_accepts_handover(referral).await;
    ng.peer_applies(referral, Action::Depart).await;
    act(&ng, Liaison, &id, json!({ "action": "confirm_handover" })).await;
    ng.peer_applies(referral, Action::ConfirmHandover).await;
    act(
        &ng,
        Caseworker,
        &id,
        json!({ "action": "start_assistance" }),
    )
    .await;
    act(
        &ng,
        Caseworker,
        &id,
        json!({ "action": "start_reintegration_monitoring" }),
    )
    .await;
    let reports = || async {
        ng.get_ok(&format!("/api/v1/cases/{id}/reports"), Caseworker)
            .await
    };
    assert_eq!(reports().await["follow_ups"][0]["overdue"], false);
    // A hundred days later, the 3-month follow-up has not been reported.
    ng.ctx.clock.advance(chrono::Duration::days(100));
    let follow_up_1 = || async {
        ng.audit_log()
            .await
            .iter()
            .filter(|e| e.kind == "deadline_overdue" && e.action == "follow_up_1")
            .count()
    };
    eventually("the overdue follow-up in the audit log", || async {
        (follow_up_1().await > 0).then_some(())
    })
    .await;
    // Later rounds of the timer find it again and record nothing more.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(follow_up_1().await, 1, "recorded once");
    let r = reports().await;
    assert_eq!(r["follow_ups"][0]["overdue"], true);
    assert_eq!(r["follow_ups"][1]["overdue"], false);
}

#[tokio::test]
async fn crossing_points_are_data_the_administrators_keep() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let put = |code: &str, body: serde_json::Value, role| {
        ng.request(
            reqwest::Method::PUT,
            &format!("/api/v1/crossing-points/{code}"),
            role,
        )
        .json(&body)
        .send()
    };
    // Seeded with the main crossings, named in the language asked for.
    let list: serde_json::Value = ng
        .get("/api/v1/crossing-points", Liaison)
        .header("Accept-Language", "fr")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 7);
    // Only administrators change them.
    let res = put("tahoua_sabon_birni", json!({ "name_en": "Tahoua – Sabon Birni", "name_fr": "Tahoua – Sabon Birni", "active": true }), Supervisor).await.unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    let res = put(
        "Bad Code!",
        json!({ "name_en": "x", "name_fr": "x", "active": true }),
        Admin,
    )
    .await
    .unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = put("tahoua_sabon_birni", json!({ "name_en": "Tahoua – Sabon Birni", "name_fr": "Tahoua – Sabon Birni", "active": true }), Admin).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Retire one.
    let res = put(
        "maradi_jibia",
        json!({ "name_en": "Maradi – Jibia", "name_fr": "Maradi – Jibia", "active": false }),
        Admin,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A plan may name the new crossing, not the retired one.
    let case = ng.receive_referral(ready_details(), None).await;
    let id = case.id.to_string();
    let (_, _, tag) = ng.read(Supervisor, &id).await;
    let (tag, _) = ng
        .step(
            Supervisor,
            &id,
            &tag.unwrap(),
            json!({ "action": "accept" }),
        )
        .await;
    let res = ng
        .transition(
            Liaison,
            &id,
            &tag,
            json!({ "action": "schedule_handover", "handover": handover_plan() }),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["code"], "unknown_crossing_point");
    let mut plan = handover_plan();
    plan["crossing_point"] = json!("tahoua_sabon_birni");
    let (_, v) = ng
        .step(
            Liaison,
            &id,
            &tag,
            json!({ "action": "schedule_handover", "handover": plan }),
        )
        .await;
    assert_eq!(v["state"], "handover_scheduled");
}
