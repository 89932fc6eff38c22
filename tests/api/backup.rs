//! A lost disk: `passerelle backup` takes a consistent copy while the node
//! runs, `passerelle restore` brings it back (node stopped), and a node
//! restored from a backup older than what the other node holds notices it
//! before sending anything: delivery is held, an administrator is told what
//! happened and what to do; no sequence number is used twice and neither
//! chain breaks.

use passerelle::domain::roles::Role::*;

use crate::cli::run_against;
use crate::exchange::{both_in, case_count, eventually, received_seqs, refer};
use crate::helpers::*;

async fn alerts(n: &TestNode) -> Vec<serde_json::Value> {
    n.get_ok("/api/v1/admin/alerts", Admin).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_node_restored_from_an_older_backup_holds_delivery_and_says_what_to_do() {
    let (ne, ng) = spawn_pair().await;
    let (_, first) = refer(&ne).await;
    both_in(&ne, &ng, first, "received").await;

    // Abuja is backed up while it runs.
    let file = ng.dir.path().join("abuja.backup");
    let file_arg = file.to_str().unwrap().to_owned();
    run_against(&ng, &["backup", &file_arg]);
    assert!(std::fs::metadata(&file).unwrap().len() > 0);

    // More referrals reach Abuja after the backup.
    for _ in 0..2 {
        let (_, r) = refer(&ne).await;
        both_in(&ne, &ng, r, "received").await;
    }
    assert_eq!(received_seqs(&ng).await, vec![1, 2, 3]);

    // Abuja's disk dies; the backup is restored.
    ng.shut_down().await;
    run_against(&ng, &["restore", &file_arg]);
    let ng = ng.restart().await;
    assert_eq!(
        case_count(&ng).await,
        1,
        "the backup's state, nothing invented"
    );

    // Abuja notices before sending anything: delivery held, the alert says
    // what happened and what to do.
    let alert = eventually("Abuja alerts that it is behind", || async {
        alerts(&ng)
            .await
            .into_iter()
            .find(|a| a["kind"] == "restored_behind_peer")
    })
    .await;
    let detail = alert["detail"].as_str().unwrap();
    assert!(
        detail.contains("up to number 3") && detail.contains("received only up to 1"),
        "{detail}"
    );
    assert!(detail.contains("Restore the latest backup"), "{detail}");

    // A new referral from Niamey is not taken out of order: Abuja's chain
    // stays gapless, and it holds no duplicate.
    let (_, later) = refer(&ne).await;
    eventually(
        "Niamey's new message refused by Abuja, not taken",
        || async {
            let v = ne
                .get_ok("/api/v1/admin/messages?status=suspended", Admin)
                .await;
            (!v["items"].as_array().unwrap().is_empty()).then_some(())
        },
    )
    .await;
    assert_eq!(received_seqs(&ng).await, vec![1]);
    assert_eq!(case_count(&ng).await, 1);
    let _ = later;
    // Niamey's records of what it sent are untouched.
    assert_eq!(received_seqs(&ne).await, Vec::<i64>::new());
}
