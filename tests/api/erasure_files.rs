//! Consent withdrawal leaves nothing of the person that anyone can read,
//! on both backends. Personal data is sealed at rest (a data key per
//! referral, wrapped by the key ring's key of the current epoch), so the
//! planted values are never in the clear in the database files — SQLite's
//! database and write-ahead log, PostgreSQL's table files and write-ahead
//! log. The withdrawal destroys the person's data key on both nodes, the
//! next key epoch destroys the key that wrapped it, and a backup taken
//! before the withdrawal, restored with every key the node still holds,
//! gives back no trace of the person.

use std::sync::Arc;

use passerelle::domain::roles::Role::*;

use crate::cli::run_against;
use crate::exchange::{eventually, refer_and_accept, withdraw_consent};
use crate::helpers::*;

const PLANTED: [&str; 4] = ["Zainab", "Qwertyson", "2348012345678", "Kofar Mata"];

/// The node's database files as one byte string: SQLite's files, or, on
/// PostgreSQL, the files of the node's database and the server's
/// write-ahead log after a checkpoint (read as the server's owner would).
fn files_of(n: &TestNode) -> Vec<u8> {
    let mut all = Vec::new();
    let mut add = |dir: &std::path::Path, prefix: &str| {
        for entry in std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && entry.path().is_file() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    all.extend(bytes);
                }
            }
        }
    };
    if backend() == "sqlite" {
        add(n.dir.path(), "node.db");
        return all;
    }
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Where {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dir: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        oid: String,
    }
    let mut pg = diesel::PgConnection::establish(&n.database_url).unwrap();
    diesel::sql_query("CHECKPOINT").execute(&mut pg).unwrap();
    let at: Where = diesel::sql_query(
        "SELECT current_setting('data_directory') AS dir, oid::text AS oid \
         FROM pg_database WHERE datname = current_database()",
    )
    .get_result(&mut pg)
    .unwrap();
    let data = std::path::Path::new(&at.dir);
    add(&data.join("base").join(&at.oid), "");
    add(&data.join("pg_wal"), "");
    assert!(all.len() > 1 << 20, "the server's files were not read");
    all
}

/// The epochs whose key-encryption key is in the node's key ring
/// (`kek-{ring}-{epoch}.key`).
fn epochs_held(n: &TestNode) -> Vec<i64> {
    std::fs::read_dir(n.dir.path().join("keys"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".key")?.rsplit('-').next()?.parse().ok()
        })
        .collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

fn in_the_clear(n: &TestNode) -> Vec<&'static str> {
    let files = files_of(n);
    PLANTED.into_iter().filter(|p| holds(&files, p)).collect()
}

async fn named(n: &TestNode, term: &str) -> usize {
    n.get_ok(&format!("/api/v1/cases?name={term}"), Caseworker)
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn after_withdrawal_nothing_of_the_person_can_be_read_from_either_nodes_files_or_an_earlier_backup(
) {
    let purge = Arc::new(|s: &mut passerelle::config::Settings| {
        s.database.purge_interval_secs = 1;
    });
    let (ne, ng) = spawn_pair_with(purge.clone(), purge).await;
    let (ne_id, ng_id, _) = refer_and_accept(&ne, &ng, "Qwertyson family reached in Dala").await;
    // Both nodes hold the person (read and found by name through the API)
    // but never in the clear in their files.
    for (n, id) in [(&ne, &ne_id), (&ng, &ng_id)] {
        let (_, c, _) = n.read(Supervisor, id).await;
        assert_eq!(c["identity"]["family_name"], "Qwertyson", "{}", n.node);
        assert_eq!(named(n, "wertys").await, 1, "{}", n.node);
        assert_eq!(in_the_clear(n), Vec::<&str>::new(), "{}", n.node);
        // The scan sees what is stored in the clear: the case's reference.
        let reference = c["reference"].as_str().unwrap();
        assert!(holds(&files_of(n), reference), "{}: {reference}", n.node);
    }
    // Another person, who stays.
    let mut other = ready_case();
    other["identity"]["family_name"] = serde_json::json!("Okonkwo");
    ne.draft(&other).await;
    let backup = n_backup(&ne);

    withdraw_consent(&ne, &ne_id).await;
    eventually("Abuja erased its copy", || async {
        let (_, c, _) = ng.read(Supervisor, &ng_id).await;
        c["erased_at"].is_string().then_some(())
    })
    .await;
    // Each node begins a new key epoch and destroys the key the backup's
    // data keys are wrapped under.
    for n in [&ne, &ng] {
        eventually("the first epoch's key is destroyed", || async {
            let epochs = epochs_held(n);
            (!epochs.contains(&1) && epochs.contains(&2)).then_some(())
        })
        .await;
        assert_eq!(named(n, "wertys").await, 0, "{}", n.node);
        // The others' names are indexed under the new epoch's key.
        assert_eq!(
            named(n, "konkw").await,
            usize::from(n.node == ne.node),
            "{}",
            n.node
        );
        assert_eq!(in_the_clear(n), Vec::<&str>::new(), "{}", n.node);
    }

    // The backup taken before the withdrawal, restored with the keys the
    // node holds now: the case is back, the person is not.
    ne.shut_down().await;
    let out = run_against(&ne, &["restore", &backup]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("cannot be read"), "{said}");
    let ne = ne.restart().await;
    let (_, c, _) = ne.read(Supervisor, &ne_id).await;
    assert!(c["identity"].is_null(), "{c}");
    let text = c.to_string();
    for p in PLANTED {
        assert!(!text.contains(p), "{p} in {text}");
    }
    assert_eq!(named(&ne, "wertys").await, 0);
    assert_eq!(in_the_clear(&ne), Vec::<&str>::new());
}

/// Backs `n` up with `passerelle backup` to a file in its directory.
fn n_backup(n: &TestNode) -> String {
    let file = n.dir.path().join("before-withdrawal.backup");
    let file = file.to_str().unwrap().to_owned();
    run_against(n, &["backup", &file]);
    let bytes = std::fs::read(&file).unwrap();
    for p in PLANTED {
        assert!(!holds(&bytes, p), "{p} in the clear in the backup");
    }
    file
}
