//! The two nodes converge over any link and any outage: real nodes, real
//! mTLS, with a slow-link proxy between them where the link matters.

use std::time::{Duration, Instant};

use passerelle::config::Settings;
use passerelle::domain::ids::ReferralId;
use passerelle::domain::roles::Role::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::exchange::{act, both_in, case_count, copy_of, messages, received_seqs, refer};
use crate::helpers::*;
use passerelle::bench::slowlink::LinkConfig;

/// A poor VSAT or 3G link: 300 ms each way, 32 KB/s each way.
fn poor_link() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(300),
        bytes_per_sec: Some(32 * 1024),
    }
}

fn tweak(f: impl Fn(&mut Settings) + Send + Sync + 'static) -> Tweak {
    std::sync::Arc::new(f)
}

/// Polls `check` until it yields `Some`, for up to `limit`.
async fn within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(n: &TestNode, status: &str) -> usize {
    let v = n
        .get_ok(
            &format!("/api/v1/admin/messages?status={status}&limit=1000"),
            Admin,
        )
        .await;
    v["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_500_message_backlog_drains_exactly_once_over_a_poor_link_with_default_settings() {
    let pair = spawn_linked_pair(
        poor_link(),
        production_peer_defaults(),
        production_peer_defaults(),
    )
    .await;
    let (ne, ng) = (&pair.ne, &pair.ng);
    // A short outage: 500 referrals queue up at Niamey.
    pair.set_down(true);
    let mut referrals = Vec::new();
    for _ in 0..500 {
        referrals.push(refer(ne).await);
    }
    assert_eq!(count(ne, "pending").await, 500);
    pair.set_down(false);
    let started = Instant::now();
    within(
        Duration::from_secs(180),
        "500 receipts at Niamey",
        || async { (count(ne, "delivered").await == 500).then_some(()) },
    )
    .await;
    let took = started.elapsed();
    // Each message applied exactly once, in order, nothing suspended.
    assert_eq!(received_seqs(ng).await, (1..=500).collect::<Vec<i64>>());
    assert_eq!(case_count(ng).await, 500);
    assert_eq!(count(ne, "suspended").await, 0);
    for (_, referral) in referrals.iter().step_by(50) {
        both_in(ne, ng, *referral, "received").await;
    }
    // About 1 MB of messages, gzip-compressed to about 100 KB, through
    // 32 KB/s: the link, not the protocol, sets the pace. A batch's upload
    // and its receipts' download take turns (one batch in flight), so both
    // directions count.
    let (up, down) = (pair.to_ng.bytes_up(), pair.to_ng.bytes_down());
    eprintln!(
        "drained 500 messages in {took:?}: {up} bytes up, {down} bytes down, {} connections",
        pair.to_ng.connections()
    );
    assert!(
        took < Duration::from_secs_f64((up + down) as f64 / (32.0 * 1024.0) * 2.0 + 10.0),
        "{took:?} for {up} bytes up and {down} down"
    );
    assert!(up < 300_000, "batches travel compressed: {up} bytes up");
    let metrics = ne.metrics().await;
    assert!(metrics.contains("passerelle_peer_batch_messages_count"));
    assert!(metrics.contains("passerelle_peer_link_bytes_per_second"));
}

#[tokio::test]
async fn a_decision_on_a_referral_whose_receipt_was_lost_is_applied_and_both_nodes_agree() {
    // Niamey would wait a minute before sending again: only the causality
    // rule can settle its referral in time.
    let slow_retry = tweak(|s: &mut Settings| {
        s.peer.retry_initial_ms = 60_000;
        s.peer.retry_max_ms = 60_000;
        s.peer.probe_interval_ms = 60_000;
    });
    let pair = spawn_linked_pair(LinkConfig::default(), slow_retry, no_tweak()).await;
    let (ne, ng) = (&pair.ne, &pair.ng);
    // Start-up traffic (the first witnessing round) is over…
    tokio::time::sleep(Duration::from_secs(1)).await;
    // …the referral reaches Abuja; its answer is lost on the way back.
    pair.to_ng.cut_after_request(1);
    let (ne_id, referral) = refer(ne).await;
    let ng_case = within(Duration::from_secs(20), "Abuja's copy", || async {
        copy_of(ng, referral).await
    })
    .await;
    assert_eq!(pair.to_ng.cuts_done(), 1);
    let m = messages(ne, &ne_id).await;
    assert_eq!(
        m[0]["status"], "pending",
        "Niamey never got the receipt: {m:?}"
    );
    assert_eq!(
        ne.read(Supervisor, &ne_id).await.1["state"],
        "approved",
        "Niamey still waits"
    );
    // Abuja's supervisor accepts before Niamey heard back.
    act(
        ng,
        Supervisor,
        &ng_case.id.to_string(),
        json!({ "action": "accept" }),
    )
    .await;
    // Niamey settles its referral from Abuja's receipt, then applies the decision.
    both_in(ne, ng, referral, "accepted").await;
    let m = messages(ne, &ne_id).await;
    let referral_msg = m
        .iter()
        .find(|m| m["message_type"] == "referral_request")
        .unwrap();
    // Settled from Abuja's receipt, never sent again.
    assert_eq!(referral_msg["status"], "delivered");
    assert_eq!(referral_msg["attempts"], 1, "{referral_msg}");
    let decision = m.iter().find(|m| m["message_type"] == "decision").unwrap();
    assert_eq!(decision["status"], "accepted", "{decision}");
    // And a comparison finds nothing to repair.
    let report = compare_now(ne).await;
    assert_eq!(report["disagreements"], 0, "{report}");
}

async fn compare_now(n: &TestNode) -> Value {
    let res = n
        .request(reqwest::Method::POST, "/api/v1/admin/convergence", Admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn disagreements(n: &TestNode, role: passerelle::domain::roles::Role) -> Vec<Value> {
    n.get_ok("/api/v1/disagreements", role).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Changes a case's state behind the node's back (no timeline event, no message).
///
/// Fault injection of storage damage, which no front door can cause: these
/// tests are about rule 2 of `domain::convergence` (a state its own timeline
/// does not record is not authoritative), and every front door records a
/// timeline event. Nor can the fake peer stand in: a transition it sends as
/// the other node is applied with a timeline event, raises the receiver's
/// `received_seq` above the real sender's `sent_seq` (so the comparison
/// reports the case in flight, never a disagreement), and takes a sequence
/// number the real node will use next, which the receiver then refuses.
async fn tamper_state(n: &TestNode, referral: ReferralId, state: &'static str) {
    n.db.write(move |c| {
        use diesel::prelude::*;
        use passerelle::store::schema::cases::dsl;
        diesel::update(dsl::cases.filter(dsl::referral_id.eq(referral.to_string())))
            .set(dsl::state.eq(state))
            .execute(c)?;
        Ok::<_, passerelle::store::DbError>(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_state_changed_behind_a_nodes_back_is_detected_on_both_sides_and_repaired() {
    let interval = 2;
    let every = tweak(move |s: &mut Settings| s.peer.compare_interval_secs = interval);
    let (ne, ng) = spawn_pair_with(every.clone(), every).await;
    let (ne_id, referral) = refer(&ne).await;
    let (_, ng_id) = both_in(&ne, &ng, referral, "received").await;
    act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    both_in(&ne, &ng, referral, "accepted").await;
    crate::exchange::all_settled(&ng, &ng_id).await;

    tamper_state(&ng, referral, "declined").await;
    let changed = Instant::now();
    let limit = Duration::from_secs(interval + 3);
    let at_ne = within(limit, "Niamey to see the disagreement", || async {
        disagreements(&ne, JtwgReviewer)
            .await
            .into_iter()
            .find(|d| d["referral_id"] == referral.to_string())
    })
    .await;
    let at_ng = within(limit, "Abuja to see the disagreement", || async {
        disagreements(&ng, Admin)
            .await
            .into_iter()
            .find(|d| d["referral_id"] == referral.to_string())
    })
    .await;
    eprintln!("detected on both sides after {:?}", changed.elapsed());
    // Niamey's state is the one its timeline records: it stands.
    assert_eq!(at_ne["peer_state"], "declined");
    assert_eq!(at_ne["local_state"], "accepted");
    // Whichever node asked, Niamey keeps its state (and may see Abuja's repair).
    assert!(
        ["kept_local_state", "repaired_at_peer"].contains(&at_ne["resolution"].as_str().unwrap()),
        "{at_ne}"
    );
    assert_eq!(at_ng["local_state"], "declined");
    assert_eq!(at_ng["resolution"], "adopted_peer_state");
    // Abuja is repaired, and both see it settled at the next comparison.
    both_in(&ne, &ng, referral, "accepted").await;
    for n in [&ne, &ng] {
        within(limit, "the disagreement to be settled", || async {
            disagreements(n, Admin)
                .await
                .into_iter()
                .find(|d| d["referral_id"] == referral.to_string() && !d["resolved_at"].is_null())
        })
        .await;
        assert!(alert_kinds(n)
            .await
            .contains(&"case_disagreement".to_owned()));
    }
    let timeline = ng
        .get_ok(&format!("/api/v1/cases/{ng_id}/events"), Supervisor)
        .await;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "resynchronised"),
        "{timeline}"
    );
    // The JTWG sees ids and states, never a person.
    let jtwg = serde_json::to_string(&disagreements(&ne, JtwgReviewer).await).unwrap();
    assert!(!jtwg.contains("Zainab") && !jtwg.contains("Qwertyson"));
    // Nothing left open on Niamey's case.
    assert!(ne.read(Supervisor, &ne_id).await.1["disagreement"].is_null());
}

#[tokio::test]
async fn a_disagreement_no_rule_settles_goes_to_a_supervisor() {
    let (ne, ng) = spawn_pair().await;
    let (ne_id, referral) = refer(&ne).await;
    let (_, ng_id) = both_in(&ne, &ng, referral, "received").await;
    crate::exchange::all_settled(&ne, &ne_id).await;
    // Both changed behind their backs: neither side can be trusted.
    tamper_state(&ne, referral, "cancelled").await;
    tamper_state(&ng, referral, "accepted").await;
    let report = compare_now(&ne).await;
    assert_eq!(report["disagreements"], 1, "{report}");
    assert_eq!(report["escalated"], 1, "{report}");
    let (_, case, _) = ng.read(Supervisor, &ng_id).await;
    assert_eq!(case["disagreement"]["resolution"], "escalated", "{case}");
    assert_eq!(case["disagreement"]["peer_state"], "cancelled");
    // A caseworker may not decide; Abuja's supervisor adopts Niamey's state.
    let decide = |role| {
        ng.request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{ng_id}/disagreement"),
            role,
        )
        .json(&json!({ "decision": "adopt_peer_state" }))
    };
    let res = decide(Caseworker).send().await.unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    let res = decide(Supervisor).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    both_in(&ne, &ng, referral, "cancelled").await;
    let report = compare_now(&ne).await;
    assert_eq!(report["disagreements"], 0, "{report}");
    assert!(ng.read(Supervisor, &ng_id).await.1["disagreement"].is_null());
}

#[tokio::test]
async fn an_idle_referral_over_a_poor_link_costs_one_round_trip() {
    let pair = spawn_linked_pair(
        poor_link(),
        production_peer_defaults(),
        production_peer_defaults(),
    )
    .await;
    let (ne, ng) = (&pair.ne, &pair.ng);
    let (first, _) = refer(ne).await;
    within(Duration::from_secs(20), "the first receipt", || async {
        (messages(ne, &first).await[0]["status"] == "delivered").then_some(())
    })
    .await;
    // Idle for longer than the old 5 s keep-alive.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let connections = pair.to_ng.connections();
    let (id, referral) = refer(ne).await;
    let approved = Instant::now();
    within(Duration::from_secs(20), "the receipt", || async {
        (messages(ne, &id).await[0]["status"] == "delivered").then_some(())
    })
    .await;
    let took = approved.elapsed();
    // Two round trips (1.2 s) plus the transfer (~2 KB up, ~1 KB down at 32 KB/s).
    eprintln!("an idle referral was receipted in {took:?}");
    assert!(took < Duration::from_millis(1200 + 100 + 400), "{took:?}");
    assert_eq!(pair.to_ng.connections(), connections, "no new connection");
    both_in(ne, ng, referral, "received").await;
}

#[tokio::test]
async fn after_an_outage_longer_than_the_retry_schedule_nothing_is_suspended_and_delivery_resumes_at_once(
) {
    // Retries back off to 30 s: only the probe can bring delivery back quickly.
    let ne_settings = tweak(|s: &mut Settings| {
        s.peer.retry_initial_ms = 50;
        s.peer.retry_max_ms = 30_000;
        s.peer.probe_interval_ms = 2000;
        s.peer.stale_after_secs = 2;
    });
    let (ne, ng) = spawn_pair_with(ne_settings, no_tweak()).await;
    ng.shut_down().await;
    let (id, referral) = refer(&ne).await;
    // 50 ms doubling: the first 8 tries span ~12 s; the outage lasts longer.
    tokio::time::sleep(Duration::from_secs(14)).await;
    let m = messages(&ne, &id).await;
    assert_eq!(m[0]["status"], "pending", "{m:?}");
    assert!(m[0]["attempts"].as_i64().unwrap() >= 6, "{m:?}");
    assert!(
        m[0]["last_error"].as_str().unwrap().contains("connect"),
        "{m:?}"
    );
    assert_eq!(count(&ne, "suspended").await, 0);
    // Caseworkers see since when the case waits; administrators get an alert.
    let (_, case, _) = ne.read(Caseworker, &id).await;
    assert!(!case["waiting_for_peer_since"].is_null(), "{case}");
    within(
        Duration::from_secs(10),
        "the delivery_delayed alert",
        || async {
            alert_kinds(&ne)
                .await
                .contains(&"delivery_delayed".to_owned())
                .then_some(())
        },
    )
    .await;
    let metrics = ne.metrics().await;
    let age: f64 = metrics
        .lines()
        .find(|l| l.starts_with("passerelle_peer_oldest_undelivered_seconds "))
        .and_then(|l| l.split(' ').nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert!(age >= 2.0, "{age}");

    let ng = ng.restart().await;
    let back = Instant::now();
    both_in(&ne, &ng, referral, "received").await;
    within(Duration::from_secs(5), "the receipt", || async {
        (messages(&ne, &id).await[0]["status"] == "delivered").then_some(())
    })
    .await;
    let took = back.elapsed();
    eprintln!("delivery resumed {took:?} after the peer came back");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(ne.read(Caseworker, &id).await.1["waiting_for_peer_since"].is_null());
}
