//! Consent withdrawal leaves nothing behind in the database files: the
//! planted values are in the files while the case is live, and gone from
//! them (free pages and write-ahead log included) once both nodes erased.
//!
//! SQLite only so far: PostgreSQL keeps dead row versions in its table
//! files until their space is reused (see the README's erasure section).

use std::sync::Arc;

use passerelle::domain::roles::Role::*;

use crate::exchange::{eventually, refer_and_accept, withdraw_consent};
use crate::helpers::*;

/// The node's SQLite files (database, write-ahead log) as one byte string.
fn files_of(n: &TestNode) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = n.dir.path().join(format!("node.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn after_withdrawal_the_database_files_of_both_nodes_no_longer_hold_the_person() {
    if backend() != "sqlite" {
        eprintln!("erasure from PostgreSQL's files is not done yet (see README)");
        return;
    }
    let purge = Arc::new(|s: &mut passerelle::config::Settings| {
        s.database.purge_interval_secs = 1;
    });
    let (ne, ng) = spawn_pair_with(purge.clone(), purge).await;
    let (ne_id, ng_id, _) = refer_and_accept(&ne, &ng, "Qwertyson family reached in Dala").await;
    // The planted family name is in both nodes' files while the case lives
    // (so the scan below means something).
    for n in [&ne, &ng] {
        assert!(
            holds(&files_of(n), "Qwertyson"),
            "{} does not hold it",
            n.node
        );
    }

    withdraw_consent(&ne, &ne_id).await;
    eventually("Abuja erased its copy", || async {
        let (_, c, _) = ng.read(Supervisor, &ng_id).await;
        c["erased_at"].is_string().then_some(())
    })
    .await;

    for n in [&ne, &ng] {
        eventually("the files no longer hold the name", || async {
            let files = files_of(n);
            (!holds(&files, "Qwertyson") && !holds(&files, "Zainab")).then_some(())
        })
        .await;
    }
}
