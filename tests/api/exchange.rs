//! Two real nodes over real mTLS on loopback: the mirrored lifecycle,
//! refused certificates, refused messages, the peer down and back, and a
//! node stopped mid-dispatch.

use std::time::Duration;

use passerelle::domain::ids::{NodeId, ReferralId};
use passerelle::domain::roles::Role::{self, *};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Polls `check` until it yields `Some`, for up to 20 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The node's copy of a referral, once it has one.
pub async fn copy_of(n: &TestNode, referral: ReferralId) -> Option<crate::fake_peer::PeerCase> {
    let v = n
        .get_ok(&format!("/api/v1/cases?referral_id={referral}"), Supervisor)
        .await;
    let item = v["items"].as_array().unwrap().first()?;
    Some(crate::fake_peer::PeerCase {
        id: item["id"].as_str().unwrap().parse().unwrap(),
        referral_id: referral,
        state: passerelle::domain::lifecycle::State::parse(item["state"].as_str().unwrap())
            .unwrap(),
    })
}

/// Waits until both nodes hold the referral in `state`; returns both ids.
pub async fn both_in(
    a: &TestNode,
    b: &TestNode,
    referral: ReferralId,
    state: &str,
) -> (String, String) {
    let mut ids = Vec::new();
    for n in [a, b] {
        let id = eventually(&format!("{} to reach {state}", n.node), || async {
            copy_of(n, referral)
                .await
                .filter(|c| c.state.as_str() == state)
                .map(|c| c.id.to_string())
        })
        .await;
        ids.push(id);
    }
    (ids[0].clone(), ids[1].clone())
}

pub async fn etag_of(n: &TestNode, id: &str) -> String {
    n.read(Supervisor, id).await.2.unwrap()
}

pub async fn act(n: &TestNode, role: Role, id: &str, body: Value) {
    let tag = etag_of(n, id).await;
    n.step(role, id, &tag, body).await;
}

/// Niamey drafts, submits and approves a referral; returns its id and referral id.
pub async fn refer(ne: &TestNode) -> (String, ReferralId) {
    let (id, tag) = ne.draft(&ready_case()).await;
    let (tag, _) = ne
        .step(Caseworker, &id, &tag, json!({ "action": "submit" }))
        .await;
    let (_, v) = ne
        .step(Supervisor, &id, &tag, json!({ "action": "approve" }))
        .await;
    (id, v["referral_id"].as_str().unwrap().parse().unwrap())
}

pub async fn messages(n: &TestNode, id: &str) -> Vec<Value> {
    let v: Value = n
        .get(&format!("/api/v1/cases/{id}/messages"), Caseworker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

/// Waits until every outgoing message about the case has a receipt.
pub async fn all_settled(n: &TestNode, id: &str) -> Vec<Value> {
    eventually("all messages settled", || async {
        let m = messages(n, id).await;
        m.iter()
            .filter(|m| m["direction"] == "outgoing")
            .all(|m| m["status"] == "delivered")
            .then_some(m)
    })
    .await
}

#[tokio::test]
async fn the_whole_lifecycle_is_mirrored_on_both_nodes() {
    let (ne, ng) = spawn_pair().await;
    let (ne_id, referral) = refer(&ne).await;
    // Acceptance of the referral request creates Abuja's copy; its receipt moves Niamey to received.
    let (_, ng_id) = both_in(&ne, &ng, referral, "received").await;
    let (_, copy, _) = ng.read(Supervisor, &ng_id).await;
    assert_eq!(
        (copy["direction"].as_str(), copy["reference"].clone()),
        (
            Some("incoming"),
            ne.read(Supervisor, &ne_id).await.1["reference"].clone()
        )
    );
    assert_eq!(copy["identity"]["given_name"], "Zainab");
    assert_eq!(copy["details"]["risk_level"], "high");

    let steps: Vec<(&TestNode, &str, Role, Value, &str)> = vec![
        (
            &ng,
            &ng_id,
            Caseworker,
            json!({ "action": "request_info" }),
            "info_requested",
        ),
        (
            &ne,
            &ne_id,
            Caseworker,
            json!({ "action": "provide_info" }),
            "received",
        ),
        (
            &ng,
            &ng_id,
            Supervisor,
            json!({ "action": "accept" }),
            "accepted",
        ),
        (
            &ng,
            &ng_id,
            Liaison,
            json!({ "action": "schedule_handover", "handover": handover_plan() }),
            "handover_scheduled",
        ),
        (
            &ne,
            &ne_id,
            Liaison,
            json!({ "action": "depart" }),
            "in_transit",
        ),
        // Both liaisons confirm: handed over once both have.
        (
            &ng,
            &ng_id,
            Liaison,
            json!({ "action": "confirm_handover" }),
            "in_transit",
        ),
        (
            &ne,
            &ne_id,
            Liaison,
            json!({ "action": "confirm_handover" }),
            "handed_over",
        ),
        (
            &ng,
            &ng_id,
            Caseworker,
            json!({ "action": "start_assistance" }),
            "in_assistance",
        ),
        (
            &ng,
            &ng_id,
            Caseworker,
            json!({ "action": "start_reintegration_monitoring" }),
            "reintegration_monitoring",
        ),
        (
            &ng,
            &ng_id,
            Supervisor,
            json!({ "action": "close", "reason_code": "reintegrated", "outcome": "successful" }),
            "closed",
        ),
    ];
    for (node, id, role, body, state) in steps {
        if body["action"] == "confirm_handover" && node.node == ne.node {
            // Niamey confirms once it has Abuja's confirmation (which changes its copy).
            eventually("Niamey has Abuja's confirmation", || async {
                let b: Value = ne
                    .get("/api/v1/handovers", Liaison)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                b["items"][0]["receiving_confirmation"]
                    .is_object()
                    .then_some(())
            })
            .await;
        }
        act(node, role, id, body).await;
        both_in(&ne, &ng, referral, state).await;
        if state == "handover_scheduled" {
            // Niamey accepts Abuja's plan; Abuja learns it.
            let tag = etag_of(&ne, &ne_id).await;
            let res = ne
                .request(
                    reqwest::Method::POST,
                    &format!("/api/v1/cases/{ne_id}/handover/acceptance"),
                    Liaison,
                )
                .header("If-Match", tag)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            eventually("Abuja sees the plan agreed", || async {
                let b: Value = ng
                    .get("/api/v1/handovers", Liaison)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (b["items"][0]["plan_status"] == "agreed").then_some(())
            })
            .await;
        }
    }
    let (_, closed, _) = ne.read(Supervisor, &ne_id).await;
    assert_eq!(closed["closure_outcome"], "successful");

    // Every message both ways was delivered once, with a receipt, in chain order.
    let ne_msgs = all_settled(&ne, &ne_id).await;
    let ng_msgs = all_settled(&ng, &ng_id).await;
    let types = |m: &[Value], dir: &str| -> Vec<String> {
        m.iter()
            .filter(|x| x["direction"] == dir)
            .map(|x| x["message_type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        types(&ne_msgs, "outgoing"),
        [
            "referral_request",
            "info_response",
            "handover_acceptance",
            "departure",
            "handover_confirmation"
        ]
    );
    assert_eq!(types(&ng_msgs, "incoming"), types(&ne_msgs, "outgoing"));
    assert_eq!(
        types(&ng_msgs, "outgoing"),
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
    assert_eq!(types(&ne_msgs, "incoming"), types(&ng_msgs, "outgoing"));
    // The same hashes on both sides.
    let hashes = |m: &[Value], dir: &str| -> Vec<String> {
        m.iter()
            .filter(|x| x["direction"] == dir)
            .map(|x| x["hash"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(hashes(&ne_msgs, "outgoing"), hashes(&ng_msgs, "incoming"));
    // Timelines record the other side's actions as the peer's.
    let events: Value = ne
        .get(&format!("/api/v1/cases/{ne_id}/events"), Supervisor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accept = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "accept")
        .unwrap();
    assert_eq!(accept["actor_kind"], "peer");
}

/// An mTLS client to `n`'s peer listener presenting `identity` (if any).
pub fn peer_client(
    n: &TestNode,
    identity: Option<(
        &openssl::x509::X509,
        &openssl::pkey::PKey<openssl::pkey::Private>,
    )>,
) -> reqwest::Client {
    peer_client_with_chain(n, identity.map(|(cert, key)| (vec![cert], key)))
}

/// A client of `n`'s peer port presenting `chain` (leaf first) and its key.
pub fn peer_client_with_chain(
    n: &TestNode,
    identity: Option<(
        Vec<&openssl::x509::X509>,
        &openssl::pkey::PKey<openssl::pkey::Private>,
    )>,
) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in
        passerelle::tls::load_certs(&passerelle::tls::pki::node_files(&certs_dir(), n.node).ca_cert)
            .unwrap()
    {
        roots.add(c).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(passerelle::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(
                chain
                    .iter()
                    .map(|c| rustls::pki_types::CertificateDer::from(c.to_der().unwrap()))
                    .collect(),
                rustls::pki_types::PrivateKeyDer::try_from(key.private_key_to_pkcs8().unwrap())
                    .unwrap(),
            )
            .unwrap(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

pub async fn ping(client: &reqwest::Client, n: &TestNode) -> Result<StatusCode, reqwest::Error> {
    client
        .get(format!("https://127.0.0.1:{}/peer/v1/ping", n.ports.peer))
        .send()
        .await
        .map(|r| r.status())
}

/// A referral from Niamey that Abuja's supervisor accepts with `comment`,
/// both nodes in `accepted`: (Niamey's case id, Abuja's, the referral).
pub async fn refer_and_accept(
    ne: &TestNode,
    ng: &TestNode,
    comment: &str,
) -> (String, String, ReferralId) {
    let (ne_id, referral) = refer(ne).await;
    let (_, ng_id) = both_in(ne, ng, referral, "received").await;
    act(
        ng,
        Supervisor,
        &ng_id,
        json!({ "action": "accept", "comment": comment }),
    )
    .await;
    both_in(ne, ng, referral, "accepted").await;
    (ne_id, ng_id, referral)
}

/// The person withdraws consent, telling node `n` (a caseworker records
/// it): the case as answered, its data erased.
pub async fn withdraw_consent(n: &TestNode, case_id: &str) -> Value {
    let res = n
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{case_id}/consent-withdrawal"),
            Caseworker,
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// How many cases the node holds, counted page by page through the API.
pub async fn case_count(n: &TestNode) -> usize {
    let mut count = 0;
    let mut path = "/api/v1/cases?limit=200".to_owned();
    loop {
        let v = n.get_ok(&path, Supervisor).await;
        count += v["items"].as_array().unwrap().len();
        match v["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/cases?limit=200&cursor={cursor}"),
            None => return count,
        }
    }
}

/// The sequence numbers of the messages the node took into its chain from
/// the other node, in log order, as the JTWG's exchange log shows them.
pub async fn received_seqs(n: &TestNode) -> Vec<i64> {
    n.get_ok("/api/v1/jtwg/exchange?direction=incoming", JtwgReviewer)
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message_received")
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn tampered_replayed_out_of_sequence_and_unknown_messages_are_refused() {
    use passerelle::domain::envelope::GENESIS_HASH;
    let ng = spawn_node(NodeId::NgNaptip).await;
    // Niamey, as far as Abuja's peer listener can tell (its certificate, its key).
    let ne = ng.fake_peer();

    // Unknown type.
    let res = ne
        .post_batch(&[ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "teleport"))])
        .await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_message_type",
    )
    .await;
    // Tampered after signing.
    let mut tampered = ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "referral_request"));
    tampered.body["payload"]["details"]["risk_level"] = json!("low");
    let res = ne.post_batch(&[tampered]).await;
    assert_problem(res, StatusCode::FORBIDDEN, "invalid_signature").await;
    // Signed by someone else's key (Abuja's own client key) over Niamey's connection.
    let other_key = passerelle::tls::load_key(
        &passerelle::tls::pki::node_files(&certs_dir(), NodeId::NgNaptip).client_key,
    )
    .unwrap();
    let res = ne
        .post_batch(&[crate::fake_peer::sign(
            &ne.referral_envelope(1, GENESIS_HASH, "referral_request"),
            &other_key,
        )])
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "invalid_signature").await;
    // Out of sequence: 2 before 1 is a gap, reported as an alert.
    let res = ne
        .post_batch(&[ne.sign(&ne.referral_envelope(2, GENESIS_HASH, "referral_request"))])
        .await;
    assert_problem(res, StatusCode::CONFLICT, "sequence_gap").await;
    // Wrong previous hash.
    let res = ne
        .post_batch(&[ne.sign(&ne.referral_envelope(1, &"f".repeat(64), "referral_request"))])
        .await;
    assert_problem(res, StatusCode::CONFLICT, "chain_broken").await;
    // An unsupported SOP version.
    let mut old = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    old.sop_version = "0.9".into();
    let res = ne.post_batch(&[ne.sign(&old)]).await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_sop_version",
    )
    .await;
    assert_eq!(case_count(&ng).await, 0, "nothing refused was applied");

    // The right first message is accepted, with a signed receipt.
    let first = ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "referral_request"));
    let res = ne.post_batch(std::slice::from_ref(&first)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    let receipt = answer["receipts"][0].clone();
    assert_eq!(receipt["body"]["status"], "accepted");
    assert_eq!(receipt["body"]["message_hash"], first.hash());
    // The receipt names the receiver's audit entry for this message.
    let index = receipt["body"]["log_index"].as_u64().unwrap();
    let logged = ng.audit_log().await[index as usize].clone();
    assert_eq!(logged.kind, "message_received");
    assert_eq!(logged.digest.as_deref(), Some(first.hash().as_str()));
    assert_eq!(case_count(&ng).await, 1);
    // Replayed: the original receipt again (signed anew), and no second effect.
    let res = ne.post_batch(std::slice::from_ref(&first)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["receipts"][0]["body"], receipt["body"]);
    let again: passerelle::domain::envelope::Signed =
        serde_json::from_value(again["receipts"][0].clone()).unwrap();
    again.verify(&receipt_key(NodeId::NgNaptip)).unwrap();
    assert_eq!(case_count(&ng).await, 1);
    // Replayed under a new id with a used sequence number.
    let res = ne
        .post_batch(&[ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "referral_request"))])
        .await;
    assert_problem(res, StatusCode::CONFLICT, "sequence_replay").await;
    // Same id, different content.
    let mut forged = ne.referral_envelope(2, &first.hash(), "referral_request");
    forged.message_id = serde_json::from_value(first.body["message_id"].clone()).unwrap();
    let res = ne.post_batch(&[ne.sign(&forged)]).await;
    assert_problem(res, StatusCode::CONFLICT, "message_id_conflict").await;
    assert_eq!(case_count(&ng).await, 1);

    // A valid message whose effect is impossible is kept in the chain with a signed, coded rejection.
    let mut cancel = ne.referral_envelope(2, &first.hash(), "cancellation");
    cancel.payload = json!({ "action": "accept", "reason_code": null, "outcome": null });
    let res = ne.post_batch(&[ne.sign(&cancel)]).await;
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["receipts"][0]["body"]["status"], "rejected");
    assert_eq!(answer["receipts"][0]["body"]["code"], "invalid_payload");

    let alerts: Value = ng
        .get("/api/v1/admin/alerts", Admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"sequence_gap") && kinds.contains(&"chain_broken"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn receipts_asked_compact_leave_out_what_the_sender_holds_and_put_together_verify() {
    use passerelle::domain::envelope::{
        public_key_of, CompactReceipt, ReceiptSubject, GENESIS_HASH,
    };
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    // One message applied, one kept with a coded rejection, in one batch.
    let first = ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "referral_request"));
    let mut cancel = ne.referral_envelope(2, &first.hash(), "cancellation");
    cancel.payload = json!({ "action": "accept", "reason_code": null, "outcome": null });
    let second = ne.sign(&cancel);
    let batch = [first, second];
    let res = ne.post_batch_compact(&batch).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["receipts"], json!([]), "{answer}");
    let compact = answer["compact_receipts"].as_array().unwrap().clone();
    assert_eq!(compact.len(), 2);
    for c in &compact {
        for field in ["message_id", "message_hash", "sender", "receiver", "seq"] {
            assert!(c.get(field).is_none(), "{field} travels: {c}");
        }
    }
    assert_eq!(compact[1]["status"], "rejected");
    assert_eq!(compact[1]["code"], "invalid_payload");
    // Put back together with what Niamey sent, each verifies against
    // Abuja's server certificate and is the receipt Abuja keeps.
    let pem =
        std::fs::read(passerelle::tls::pki::node_files(&certs_dir(), NodeId::NgNaptip).server_cert)
            .unwrap();
    let public = public_key_of(
        &openssl::x509::X509::from_pem(&pem)
            .unwrap()
            .to_der()
            .unwrap(),
    )
    .unwrap();
    // Sent again without asking: the same receipts, whole.
    let res = ne.post_batch(&batch).await;
    let whole: Value = res.json().await.unwrap();
    for (i, (c, m)) in compact.iter().zip(&batch).enumerate() {
        let c: CompactReceipt = serde_json::from_value(c.clone()).unwrap();
        let subject = ReceiptSubject {
            message_id: serde_json::from_value(m.body["message_id"].clone()).unwrap(),
            message_hash: m.hash(),
            sender: NodeId::NeAnltp,
            receiver: NodeId::NgNaptip,
            seq: i as i64 + 1,
        };
        let receipt = c.clone().expand(subject.clone()).unwrap();
        receipt.verify(&public).unwrap();
        assert_eq!(
            serde_json::to_value(&receipt.body).unwrap(),
            whole["receipts"][i]["body"]
        );
        // For another message, it does not verify.
        let other = ReceiptSubject {
            seq: subject.seq + 1,
            ..subject
        };
        assert!(c.expand(other).unwrap().verify(&public).is_err());
    }
}

#[tokio::test]
async fn everything_queued_while_the_peer_is_down_is_delivered_once_in_order() {
    let (ne, ng) = spawn_pair().await;
    ng.shut_down().await;
    let mut referrals = Vec::new();
    for _ in 0..3 {
        referrals.push(refer(&ne).await);
    }
    // Cancel the second one while the peer is still down: its cancellation queues behind it.
    act(
        &ne,
        Supervisor,
        &referrals[1].0,
        json!({ "action": "cancel", "reason_code": "referred_elsewhere" }),
    )
    .await;
    eventually("failed attempts", || async {
        let m = messages(&ne, &referrals[0].0).await;
        (m[0]["attempts"].as_i64().unwrap() > 0 && m[0]["status"] == "pending").then_some(())
    })
    .await;
    let ng = ng.restart().await;
    for (id, referral) in &referrals[..] {
        let state = if *id == referrals[1].0 {
            "cancelled"
        } else {
            "received"
        };
        both_in(&ne, &ng, *referral, state).await;
        all_settled(&ne, id).await;
    }
    // Abuja received each message exactly once, in sequence.
    assert_eq!(received_seqs(&ng).await, [1, 2, 3, 4]);
    assert_eq!(case_count(&ng).await, 3);
}

#[tokio::test]
async fn a_message_the_peer_refuses_outright_is_suspended_until_an_administrator_retries_it() {
    let (ne, ng) = spawn_pair().await;
    ng.shut_down().await;
    let (id, referral) = refer(&ne).await;
    // Its type is damaged while it waits (a disk fault that left it
    // consistent with its hash, say): Abuja refuses it for good, which no
    // resend can cure.
    // Fault injection of storage damage, which no front door can cause
    // (sealed again, as the node stores bodies: the person's data never
    // lies in the clear, not even in a test).
    let good: (String, String) = ne
        .db
        .write(|c| {
            use diesel::prelude::*;
            use passerelle::store::schema::outbox_messages::dsl::*;
            let stored: (String, String) = outbox_messages
                .filter(seq.eq(1))
                .select((body, hash))
                .first(c)?;
            let row = passerelle::app::exchange::list_outgoing(c, None, None, None, 1)?.remove(0);
            let mut damaged: Value = serde_json::from_str(&row.body).unwrap();
            damaged["message_type"] = json!("referral_teleport");
            let sealed = passerelle::store::sealed::seal(
                c,
                &row.referral_id,
                passerelle::store::sealed::Column::Body,
                &damaged.to_string(),
            )?;
            diesel::update(outbox_messages.filter(seq.eq(1)))
                .set((
                    body.eq(sealed),
                    hash.eq(passerelle::domain::envelope::digest(&damaged)),
                ))
                .execute(c)?;
            Ok::<_, passerelle::store::DbError>(stored)
        })
        .await
        .unwrap();
    let ng = ng.restart().await;
    let msg = suspended(&ne, &id, "unknown_message_type").await;
    let listed: Value = ne
        .get("/api/v1/admin/messages?status=suspended", Admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // Repaired, it is not sent on its own…
    ne.db
        .write(move |c| {
            use diesel::prelude::*;
            use passerelle::store::schema::outbox_messages::dsl::*;
            diesel::update(outbox_messages.filter(seq.eq(1)))
                .set((body.eq(good.0), hash.eq(good.1)))
                .execute(c)?;
            Ok::<_, passerelle::store::DbError>(())
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(copy_of(&ng, referral).await.is_none());
    // …until an administrator retries it.
    let retry = |role| {
        ne.request(
            reqwest::Method::POST,
            &format!(
                "/api/v1/admin/messages/{}/retry",
                msg["message_id"].as_str().unwrap()
            ),
            role,
        )
    };
    assert_eq!(
        retry(Supervisor).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(retry(Admin).send().await.unwrap().status(), StatusCode::OK);
    both_in(&ne, &ng, referral, "received").await;
    let res = retry(Admin).send().await.unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// Waits until the case's first message is suspended for `code`; returns it.
async fn suspended(ne: &TestNode, case: &str, code: &str) -> Value {
    let msg = eventually("suspension", || async {
        let m = messages(ne, case).await;
        (m[0]["status"] == "suspended").then(|| m[0].clone())
    })
    .await;
    assert!(
        msg["last_error"].as_str().unwrap().starts_with(code),
        "{msg}"
    );
    msg
}

#[tokio::test]
async fn a_message_damaged_in_storage_is_never_signed_nor_sent() {
    let (ne, ng) = spawn_pair().await;
    ng.shut_down().await;
    let (id, referral) = refer(&ne).await;
    // Damaged while it waits (a disk fault): it no longer has the hash it
    // was chained with, so this node will not vouch for it.
    // Fault injection of storage damage, which no front door can cause:
    // the stored body and the hash it was chained with no longer agree
    // (here the hash is hit; the body stays sealed).
    ne.db
        .write(|c| {
            use diesel::prelude::*;
            use passerelle::store::schema::outbox_messages::dsl::*;
            diesel::update(outbox_messages.filter(seq.eq(1)))
                .set(hash.eq("0".repeat(64)))
                .execute(c)?;
            Ok::<_, passerelle::store::DbError>(())
        })
        .await
        .unwrap();
    let ng = ng.restart().await;
    suspended(&ne, &id, "stored_message_damaged").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        copy_of(&ng, referral).await.is_none(),
        "nothing reached Abuja"
    );
}

#[tokio::test]
async fn between_two_nodes_every_stored_message_and_receipt_is_proof_on_its_own() {
    let (ne, ng) = spawn_pair().await;
    let mut referrals = Vec::new();
    for _ in 0..4 {
        referrals.push(refer(&ne).await);
    }
    for (_, referral) in &referrals {
        both_in(&ne, &ng, *referral, "received").await;
    }
    // Niamey's receipts from Abuja, each with its own copy of the
    // signature of the answer it came in.
    let receipts: Vec<String> = ne
        .db
        .read_blocking(|c| passerelle::app::exchange::list_outgoing(c, None, None, None, 100))
        .unwrap()
        .into_iter()
        .filter_map(|r| r.receipt)
        .collect();
    assert!(receipts.len() >= 4, "{receipts:?}");
    for r in receipts {
        let r: passerelle::domain::envelope::Signed = serde_json::from_str(&r).unwrap();
        assert!(r.signature.starts_with("batch1."), "{}", r.signature);
        r.verify(&receipt_key(NodeId::NgNaptip)).unwrap();
    }
    // Abuja's copies of Niamey's messages, signed as they left.
    let mut batched = 0;
    for (_, referral) in referrals {
        let kept = ng
            .db
            .read_blocking(move |c| passerelle::app::exchange::list_incoming(c, referral))
            .unwrap();
        assert_eq!(kept.len(), 1);
        for k in kept {
            let m = passerelle::domain::envelope::Signed {
                body: serde_json::from_str(&k.body).unwrap(),
                signature: k.signature,
            };
            batched += usize::from(m.signature.starts_with("batch1."));
            m.verify(&message_key(NodeId::NeAnltp)).unwrap();
        }
    }
    assert!(batched > 0, "no message was signed as part of a batch");
}

/// The public key of `node`'s server certificate, which signs its receipts.
pub fn receipt_key(node: NodeId) -> openssl::pkey::PKey<openssl::pkey::Public> {
    let pem =
        std::fs::read(passerelle::tls::pki::node_files(&certs_dir(), node).server_cert).unwrap();
    openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .public_key()
        .unwrap()
}

/// The public key of `node`'s client certificate, which signs its messages.
pub fn message_key(node: NodeId) -> openssl::pkey::PKey<openssl::pkey::Public> {
    let pem =
        std::fs::read(passerelle::tls::pki::node_files(&certs_dir(), node).client_cert).unwrap();
    openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .public_key()
        .unwrap()
}

#[tokio::test]
async fn a_batch_signed_as_one_is_taken_whole_and_each_message_and_receipt_verifies_alone() {
    use passerelle::domain::batch_signature;
    use passerelle::domain::envelope::{CompactReceipt, ReceiptSubject, GENESIS_HASH};
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    let first =
        serde_json::to_value(ne.referral_envelope(1, GENESIS_HASH, "referral_request")).unwrap();
    let second = serde_json::to_value(ne.referral_envelope(
        2,
        &passerelle::domain::envelope::digest(&first),
        "referral_request",
    ))
    .unwrap();
    let bodies = vec![first.clone(), second.clone()];
    let signature = batch_signature::sign(&bodies, ne.key()).unwrap();
    // One envelope changed after signing: the whole batch is refused, nothing applied.
    let mut changed = bodies.clone();
    changed[1]["created_at"] = json!("2026-01-01T00:00:00Z");
    let res = ne.post_batch_signed_as_one(&changed, &signature).await;
    assert_problem(res, StatusCode::FORBIDDEN, "invalid_signature").await;
    // Both forms at once, or envelopes without their signature: a bad body.
    let res = ne
        .post(
            "/peer/v1/messages",
            &json!({ "messages": [ne.sign_body(first.clone())], "envelopes": bodies, "signature": signature }),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    for body in [json!({ "envelopes": bodies }), json!({})] {
        let res = ne.post("/peer/v1/messages", &body).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    assert_eq!(case_count(&ng).await, 0, "nothing refused was applied");
    // As signed: both taken in, and the answer carries compact receipts
    // with one signature for all of them.
    let res = ne.post_batch_signed_as_one(&bodies, &signature).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[passerelle::peer::server::SIGNATURES],
        "batch",
        "the receiver says it takes batch signatures"
    );
    let answer: Value = res.json().await.unwrap();
    assert_eq!(case_count(&ng).await, 2);
    let receipts_signature = answer["receipts_signature"].as_str().unwrap();
    let compact = answer["compact_receipts"].as_array().unwrap();
    assert_eq!(compact.len(), 2);
    let receipts: Vec<Value> = compact
        .iter()
        .zip(&bodies)
        .map(|(c, m)| {
            assert!(c.get("signature").is_none(), "{c}");
            let c: CompactReceipt = serde_json::from_value(c.clone()).unwrap();
            let subject = ReceiptSubject {
                message_id: serde_json::from_value(m["message_id"].clone()).unwrap(),
                message_hash: passerelle::domain::envelope::digest(m),
                sender: NodeId::NeAnltp,
                receiver: NodeId::NgNaptip,
                seq: m["seq"].as_i64().unwrap(),
            };
            c.expand(subject).unwrap().body
        })
        .collect();
    // Each receipt, with its own copy of the signature and its path, is
    // proof on its own; moved to another receipt's place it is not.
    let signed = batch_signature::expand(receipts, receipts_signature).unwrap();
    let key = receipt_key(NodeId::NgNaptip);
    for r in &signed {
        assert!(r.signature.starts_with("batch1."), "{}", r.signature);
        let alone: passerelle::domain::envelope::Signed =
            serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
        alone.verify(&key).unwrap();
    }
    let mut swapped = signed[0].clone();
    swapped.signature = signed[1].signature.clone();
    assert!(swapped.verify(&key).is_err());
    // The receiver keeps each message with its own copy of the batch's
    // signature: it verifies alone, against the sender's certificate.
    for m in &bodies {
        let referral = serde_json::from_value(m["referral_id"].clone()).unwrap();
        let kept = ng
            .db
            .read_blocking(move |c| passerelle::app::exchange::list_incoming(c, referral))
            .unwrap();
        assert_eq!(kept.len(), 1);
        let kept = passerelle::domain::envelope::Signed {
            body: serde_json::from_str(&kept[0].body).unwrap(),
            signature: kept[0].signature.clone(),
        };
        assert_eq!(&kept.body, m);
        assert!(kept.signature.starts_with("batch1."));
        kept.verify(&message_key(NodeId::NeAnltp)).unwrap();
    }
}

/// The node's count of failed deliveries to its peer, all causes (from its metrics).
async fn delivery_failures(n: &TestNode) -> u64 {
    n.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("passerelle_peer_delivery_failures_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn a_node_stopped_mid_dispatch_loses_nothing_and_applies_nothing_twice() {
    // Every byte between the nodes goes through a (plain) slow-link proxy.
    let LinkedPair {
        ne,
        ng,
        to_ng,
        to_ne: _to_ne,
    } = spawn_linked_pair(
        passerelle::bench::slowlink::LinkConfig::default(),
        no_tweak(),
        no_tweak(),
    )
    .await;
    let mut referrals = Vec::new();
    for _ in 0..20 {
        referrals.push(refer(&ne).await);
    }
    // Stop Niamey abruptly while it is delivering, then start it again.
    ne.shut_down().await;
    let ne = ne.restart().await;
    for (_, referral) in &referrals {
        both_in(&ne, &ng, *referral, "received").await;
    }
    // Abuja applies a message but its answer, with the receipt, is lost on
    // the way back: as for a crash between apply and receipt, Niamey still
    // holds the message as undelivered and sends it again.
    // (A witnessing round of Niamey's own, done once this returns, is the
    // only other request Niamey makes unasked: none is in flight to be cut.)
    let res = ne
        .request(reqwest::Method::POST, "/api/v1/audit/checkpoints", Admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let failures = delivery_failures(&ne).await;
    to_ng.cut_after_request(1);
    let (last_id, last_referral) = refer(&ne).await;
    let m = all_settled(&ne, &last_id).await;
    assert_eq!(m[0]["status"], "delivered");
    assert_eq!(to_ng.cuts_done(), 1);
    assert_eq!(
        delivery_failures(&ne).await,
        failures + 1,
        "the delivery whose answer was lost failed once"
    );
    let counts = (received_seqs(&ng).await.len(), case_count(&ng).await);
    assert_eq!(counts, (21, 21), "each referral applied exactly once");
    both_in(&ne, &ng, last_referral, "received").await;
}
