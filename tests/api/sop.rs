//! The joint SOP end to end: the consent gate, consent withdrawal and
//! erasure, both languages.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use passerelle::peer::envelope::GENESIS_HASH;
use reqwest::StatusCode;
use serde_json::json;

use crate::exchange::*;
use crate::helpers::*;

#[tokio::test]
async fn a_message_carrying_more_than_its_consent_covers_is_refused() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let (cert, key) = niamey_identity();
    let client = peer_client(&ng, Some((&cert, &key)));
    // The consent covers referral and data sharing, not follow-up contact:
    // a phone number may not travel.
    let mut env = referral_envelope(1, GENESIS_HASH, "referral_request");
    env.payload["identity"] = json!({ "given_name": "Zainab", "phone": "+2348012345678" });
    let res = post(&client, &ng, vec![sign(&env, &key)]).await;
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
    let mut env = referral_envelope(1, GENESIS_HASH, "referral_request");
    env.payload["details"]["diagnosis"] = json!("tuberculosis");
    let res = post(&client, &ng, vec![sign(&env, &key)]).await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "consent_scope_exceeded",
    )
    .await;
    // Without a consent covering the referral, nothing is taken in.
    let mut env = referral_envelope(1, GENESIS_HASH, "referral_request");
    env.payload["details"]["consent"]["scope"] = json!(["data_sharing"]);
    let res = post(&client, &ng, vec![sign(&env, &key)]).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    assert_eq!(case_count(&ng).await, 0);
    // Within scope, the same referral is taken.
    let env = referral_envelope(1, GENESIS_HASH, "referral_request");
    let res = post(&client, &ng, vec![sign(&env, &key)]).await;
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
