//! A lost disk: `passerelle backup` takes a consistent copy while the node
//! runs, `passerelle restore` brings it back (node stopped), and a node
//! restored from a backup older than what the other node holds notices it
//! before sending anything. The other node's messages it lost are taken
//! again from the other node's copies (signatures, chain and rules checked
//! as for any message), and it carries on. If it lost messages of its own,
//! it holds delivery and says what to do. Never a duplicate, never a broken
//! chain.

use passerelle::domain::roles::Role::*;
use serde_json::json;

use crate::cli::run_against;
use crate::exchange::{act, both_in, case_count, eventually, received_seqs, refer};
use crate::helpers::*;

async fn alerts(n: &TestNode) -> Vec<serde_json::Value> {
    n.get_ok("/api/v1/admin/alerts", Admin).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Backs `n` up to a file in its directory; returns the path.
fn back_up(n: &TestNode) -> String {
    let file = n
        .dir
        .path()
        .join(format!("{}.backup", uuid::Uuid::new_v4()));
    let file = file.to_str().unwrap().to_owned();
    run_against(n, &["backup", &file]);
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    file
}

/// Stops `n`, restores `file`, starts it again.
async fn restore(n: TestNode, file: &str) -> TestNode {
    n.shut_down().await;
    run_against(&n, &["restore", file]);
    n.restart().await
}

#[tokio::test]
async fn a_node_restored_from_an_older_backup_takes_the_missing_messages_again_and_carries_on() {
    let (ne, ng) = spawn_pair().await;
    let (_, first) = refer(&ne).await;
    both_in(&ne, &ng, first, "received").await;
    let backup = back_up(&ng);

    // Two more referrals reach Abuja after the backup; then its disk dies.
    for _ in 0..2 {
        let (_, r) = refer(&ne).await;
        both_in(&ne, &ng, r, "received").await;
    }
    assert_eq!(received_seqs(&ng).await, vec![1, 2, 3]);
    let ng = restore(ng, &backup).await;

    // Abuja takes the two referrals again from Niamey's copies.
    eventually("the lost referrals taken again", || async {
        (received_seqs(&ng).await == vec![1, 2, 3]).then_some(())
    })
    .await;
    assert_eq!(case_count(&ng).await, 3, "each referral once");
    // And carries on: a new referral and a decision travel as before.
    let (_, later) = refer(&ne).await;
    let (_, ng_id) = both_in(&ne, &ng, later, "received").await;
    assert_eq!(received_seqs(&ng).await, vec![1, 2, 3, 4]);
    act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    both_in(&ne, &ng, later, "accepted").await;
    assert_eq!(received_seqs(&ne).await, vec![1]);
    assert!(!alerts(&ng)
        .await
        .iter()
        .any(|a| a["kind"] == "restored_behind_peer"));
}

#[tokio::test]
async fn a_node_that_lost_messages_of_its_own_holds_delivery_and_says_what_to_do() {
    let (ne, ng) = spawn_pair().await;
    let (_, first) = refer(&ne).await;
    let (_, ng_id) = both_in(&ne, &ng, first, "received").await;
    let backup = back_up(&ng);
    // Abuja decides after the backup: its message 1 reaches Niamey.
    act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    both_in(&ne, &ng, first, "accepted").await;
    let ng = restore(ng, &backup).await;

    // Abuja notices before sending anything: delivery held, and the alert
    // says what happened and what to do.
    let alert = eventually("Abuja alerts that it is behind", || async {
        alerts(&ng)
            .await
            .into_iter()
            .find(|a| a["kind"] == "restored_behind_peer")
    })
    .await;
    let detail = alert["detail"].as_str().unwrap();
    assert!(
        detail.contains("up to number 1") && detail.contains("holds only up to 0"),
        "{detail}"
    );
    assert!(detail.contains("Restore the latest backup"), "{detail}");
    assert!(ng
        .metrics()
        .await
        .contains("passerelle_peer_delivery_held 1"));
    // Its case is as the backup had it; a new decision is not sent with a
    // sequence number Niamey already has.
    let (_, copy, _) = ng.read(Supervisor, &ng_id).await;
    assert_eq!(copy["state"], "received");
    act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        received_seqs(&ne).await,
        vec![1],
        "nothing duplicated at Niamey"
    );
    let pending = ng
        .get_ok("/api/v1/admin/messages?status=pending", Admin)
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1, "{pending}");
}
