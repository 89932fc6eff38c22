//! The audit log is watched: the peer check runs with every witnessing
//! round, incrementally and wrapping around; a changed entry raises an
//! alert on both nodes, shows on the JTWG's watch, and stops cosigning until
//! an administrator acknowledges it. `audit verify` says how far a bundle is
//! cosigned, and `--require-cosigned` fails otherwise.

use std::sync::Arc;

use passerelle::domain::roles::Role::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::audit::{drop_guards, exchanged_pair_with, sql};
use crate::exchange::eventually;
use crate::helpers::*;

async fn watch(n: &TestNode) -> Value {
    n.get_ok("/api/v1/audit/watch", JtwgReviewer).await
}

async fn post(
    n: &TestNode,
    path: &str,
    role: passerelle::domain::roles::Role,
) -> (StatusCode, Value) {
    let res = n.request(Method::POST, path, role).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_changed_entry_found_by_the_watch_alerts_both_nodes_and_stops_cosigning_until_acknowledged(
) {
    // Niamey watches Abuja's log every second, four entries per round.
    let (ne, ng) = exchanged_pair_with(
        Arc::new(|s| {
            s.audit.checkpoint_interval_secs = 1;
            s.audit.watch_leaves_per_round = 4;
        }),
        no_tweak(),
    )
    .await;
    // The rounds go through the whole witnessed log and start again.
    eventually("a complete pass of the watch", || async {
        let w = watch(&ne).await;
        (w["passes"].as_i64().unwrap() >= 1 && w["cosigning"] == "active").then_some(())
    })
    .await;

    // Someone with database access changes an entry of Abuja's log.
    drop_guards(&ng);
    sql(
        &ng,
        &["UPDATE audit_log SET outcome = 'refused' WHERE idx = 3"],
    );

    // Niamey's next pass finds it, without anyone asking: the JTWG sees it.
    let w = eventually("the watch suspends cosigning", || async {
        let w = watch(&ne).await;
        (w["cosigning"] == "suspended").then_some(w)
    })
    .await;
    assert_eq!(w["suspension"]["index"], 3, "{w}");
    assert_eq!(w["suspension"]["problem"], "changed", "{w}");
    // Both nodes raised an alert; each logged it.
    assert!(alert_kinds(&ne)
        .await
        .contains(&"peer_log_mismatch".to_owned()));
    eventually("Abuja told that its log changed", || async {
        alert_kinds(&ng)
            .await
            .contains(&"own_log_mismatch_reported".to_owned())
            .then_some(())
    })
    .await;
    assert!(ne
        .audit_log()
        .await
        .iter()
        .any(|e| e.kind == "peer_log_mismatch" && e.seq == Some(3)));
    assert!(ng
        .audit_log()
        .await
        .iter()
        .any(|e| e.kind == "log_mismatch_reported"
            && e.seq == Some(3)
            && e.code.as_deref() == Some("changed")));

    // Niamey no longer cosigns Abuja's checkpoints.
    let (status, problem) = post(&ng, "/api/v1/audit/checkpoints", Admin).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("cosigning_suspended"),
        "{problem}"
    );

    // Only an administrator acknowledges, once.
    let (status, _) = post(&ne, "/api/v1/audit/watch/acknowledge", JtwgReviewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, ack) = post(&ne, "/api/v1/audit/watch/acknowledge", Admin).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["index"], 3);
    let (status, problem) = post(&ne, "/api/v1/audit/watch/acknowledge", Admin).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "watch_not_suspended");
    assert!(ne
        .audit_log()
        .await
        .iter()
        .any(|e| e.action == "POST /api/v1/audit/watch/acknowledge"
            && e.outcome == "ok"
            && e.actor == "admin"));

    // Cosigning resumes, and the watch passes over the acknowledged entry
    // while it stays as acknowledged.
    crate::audit::checkpoint(&ng).await;
    let passes = watch(&ne).await["passes"].as_i64().unwrap();
    eventually("another complete pass, still active", || async {
        let w = watch(&ne).await;
        assert_eq!(w["cosigning"], "active", "{w}");
        (w["passes"].as_i64().unwrap() > passes).then_some(())
    })
    .await;
    assert_eq!(watch(&ne).await["acknowledged"], 1);
}

#[tokio::test]
async fn verify_says_how_far_a_bundle_is_cosigned_and_can_require_all_of_it() {
    let (ne, _ng) = exchanged_pair_with(no_tweak(), no_tweak()).await;
    // Entries written after the last cosigned checkpoint: the export signs
    // a checkpoint of its own that the peer has not cosigned.
    for _ in 0..3 {
        ne.get_ok("/api/v1/jtwg/statistics", JtwgReviewer).await;
    }
    let file = ne.dir.path().join("bundle.json");
    std::fs::write(&file, crate::audit::export(&ne)).unwrap();
    let v = crate::audit::verify(&std::fs::read(&file).unwrap()).unwrap();
    assert!(v.cosigned_size > 0 && v.cosigned_size < v.size, "{v:?}");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["audit", "verify"])
            .args(extra)
            .arg(&file)
            .output()
            .unwrap()
    };
    let plain = run(&[]);
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.status.success(), "{stdout}");
    let line = format!("cosigned up to {} of {} entries", v.cosigned_size, v.size);
    assert!(stdout.contains(&line), "{stdout}");
    let strict = run(&["--require-cosigned"]);
    assert!(!strict.status.success());
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("--require-cosigned"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
}
