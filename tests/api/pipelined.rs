//! A sender keeps two batches in flight over a slow link. A batch marked
//! `passerelle-pipelined` that overtakes the one it follows waits for its
//! turn and is taken in after it, with no gap and no alert; behind a refused
//! batch it is refused at once as `sequence_ahead` (the sender starts again
//! from its first unreceipted message), and so it is when the batch before
//! it is not taken in within the wait; unmarked, out of turn is a gap.

use std::time::{Duration, Instant};

use passerelle::domain::envelope::{Signed, GENESIS_HASH};
use passerelle::domain::ids::NodeId;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_pipelined_batch_that_overtakes_the_one_it_follows_is_taken_in_after_it() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    let first = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    let signed_first = ne.sign(&first);
    let second = ne.referral_envelope(2, &signed_first.hash(), "referral_request");
    let signed_second = ne.sign(&second);

    // The second batch arrives first; the first follows 300 ms later.
    let (early, late) = tokio::join!(
        ne.post_pipelined(std::slice::from_ref(&signed_second)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            ne.post_batch(std::slice::from_ref(&signed_first)).await
        }
    );
    for (res, seq) in [(early, 2), (late, 1)] {
        assert_eq!(res.status(), StatusCode::OK, "batch {seq}");
        let body: Value = res.json().await.unwrap();
        assert!(body["refusal"].is_null(), "batch {seq}: {body}");
        assert_eq!(body["receipts"][0]["body"]["status"], "accepted", "{body}");
    }
    assert_eq!(crate::exchange::received_seqs(&ng).await, vec![1, 2]);
    for referral in [first.referral_id, second.referral_id] {
        assert!(crate::exchange::copy_of(&ng, referral).await.is_some());
    }
    assert!(!alert_kinds(&ng).await.iter().any(|k| k == "sequence_gap"));
}

#[tokio::test]
async fn a_pipelined_batch_behind_a_refused_one_is_refused_at_once_and_sent_again_later() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    let first = ne.referral_envelope(1, GENESIS_HASH, "referral_request");
    let signed_first = ne.sign(&first);
    let mut tampered = signed_first.clone();
    tampered.body["payload"]["details"]["risk_level"] = serde_json::json!("low");
    let second = ne.referral_envelope(2, &signed_first.hash(), "referral_request");
    let signed_second = ne.sign(&second);

    let started = Instant::now();
    let (early, late) = tokio::join!(
        ne.post_pipelined(std::slice::from_ref(&signed_second)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            ne.post_batch(std::slice::from_ref(&tampered)).await
        }
    );
    assert_problem(late, StatusCode::FORBIDDEN, "invalid_signature").await;
    assert_problem(early, StatusCode::CONFLICT, "sequence_ahead").await;
    // Refused as soon as the batch before it was, not at the end of the wait.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!alert_kinds(&ng).await.iter().any(|k| k == "sequence_gap"));

    sent_again_in_order_both_are_taken_in(&ng, [&signed_first, &signed_second]).await;
}

/// Sent again in order, one batch each, both messages are taken in.
async fn sent_again_in_order_both_are_taken_in(ng: &TestNode, batches: [&Signed; 2]) {
    for signed in batches {
        let res = ng
            .fake_peer()
            .post_batch(std::slice::from_ref(signed))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(crate::exchange::received_seqs(ng).await, vec![1, 2]);
}

/// Fencing: once a batch came under a newer lease term of the sender (a
/// replica that took its dispatcher over), a batch under an older term (a
/// replica that lost the lease while paused) is refused whole, and changes
/// nothing; the newer term's batches go on.
#[tokio::test]
async fn a_batch_from_a_dispatcher_that_lost_its_lease_is_refused() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    let first = ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "referral_request"));
    let second = ne.sign(&ne.referral_envelope(2, &first.hash(), "referral_request"));
    let third = ne.sign(&ne.referral_envelope(3, &second.hash(), "referral_request"));
    let res = ne.post_fenced(std::slice::from_ref(&first), 100).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The replica that took over (term 200) delivers the second message.
    let res = ne.post_fenced(std::slice::from_ref(&second), 200).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The former holder wakes up and sends what it had: refused.
    let res = ne.post_fenced(std::slice::from_ref(&third), 100).await;
    assert_problem(res, StatusCode::CONFLICT, "stale_dispatcher").await;
    assert_eq!(crate::exchange::received_seqs(&ng).await, vec![1, 2]);
    // The current holder sends it: taken in.
    let res = ne.post_fenced(std::slice::from_ref(&third), 200).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(crate::exchange::received_seqs(&ng).await, vec![1, 2, 3]);
    // The refusal is in the audit log, with who made it.
    let log = ng.audit_log().await;
    assert!(log
        .iter()
        .any(|e| e.code.as_deref() == Some("stale_dispatcher") && e.actor == "peer:ne-anltp"));
}

/// A pipelined batch whose predecessor is not taken in within the wait (it
/// is late, say on another replica of the receiving node) proves no loss:
/// it is refused as the transient `sequence_ahead`, not as a gap that would
/// suspend it, and raises no alert; sent again in order, both are taken in.
#[tokio::test]
async fn a_pipelined_batch_whose_predecessor_is_late_is_refused_as_ahead_not_as_a_gap() {
    let ng = spawn_node(NodeId::NgNaptip).await;
    let ne = ng.fake_peer();
    let first = ne.sign(&ne.referral_envelope(1, GENESIS_HASH, "referral_request"));
    let second = ne.sign(&ne.referral_envelope(2, &first.hash(), "referral_request"));

    // The first never comes within the wait (half the test's 5 s stall timeout).
    let early = ne.post_pipelined(std::slice::from_ref(&second)).await;
    assert_problem(early, StatusCode::CONFLICT, "sequence_ahead").await;
    assert!(crate::exchange::received_seqs(&ng).await.is_empty());
    assert!(!alert_kinds(&ng).await.iter().any(|k| k == "sequence_gap"));

    sent_again_in_order_both_are_taken_in(&ng, [&first, &second]).await;
}
