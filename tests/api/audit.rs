//! The tamper-evident audit log: cross-witnessing, reconciliation, the
//! JTWG's review without personal data, offline verification, and tampering
//! detected by `audit verify` and by the peer with the first bad index named.

use passerelle::audit::bundle::{self, Failure};
use passerelle::domain::roles::Role::*;
use passerelle::store::AnyConnection;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::exchange::{act, all_settled, both_in, eventually, refer};
use crate::helpers::*;

/// A referral from Niamey accepted by Abuja, every message settled, and both
/// logs cosigned by the other node.
async fn exchanged_pair() -> (TestNode, TestNode) {
    exchanged_pair_with(no_tweak(), no_tweak()).await
}

/// Two nodes (settings changed by `ne` and `ng`) that exchanged a referral
/// and its acceptance, each log cosigned by the other.
pub async fn exchanged_pair_with(ne: Tweak, ng: Tweak) -> (TestNode, TestNode) {
    let (ne, ng) = spawn_pair_with(ne, ng).await;
    let (ne_id, referral) = refer(&ne).await;
    let (_, ng_id) = both_in(&ne, &ng, referral, "received").await;
    act(&ng, Supervisor, &ng_id, json!({ "action": "accept" })).await;
    both_in(&ne, &ng, referral, "accepted").await;
    all_settled(&ne, &ne_id).await;
    all_settled(&ng, &ng_id).await;
    for n in [&ne, &ng] {
        checkpoint(n).await;
    }
    (ne, ng)
}

/// Has the node sign a checkpoint and the peer cosign it.
pub async fn checkpoint(n: &TestNode) -> Value {
    let res = n
        .request(Method::POST, "/api/v1/audit/checkpoints", Admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let round: Value = res.json().await.unwrap();
    assert_eq!(round["cosigned"], round["size"], "{round}");
    round
}

async fn get_json(n: &TestNode, path: &str) -> Value {
    let res = n.get(path, JtwgReviewer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

async fn reconciliation(n: &TestNode) -> Value {
    get_json(n, "/api/v1/jtwg/reconciliation").await
}

fn statuses(report: &Value) -> Vec<String> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The node's whole audit log as a signed bundle, exported as an operator
/// does (`passerelle audit export`, a second process on the node's database).
pub fn export(n: &TestNode) -> Vec<u8> {
    let file = n
        .dir
        .path()
        .join(format!("export-{}.json", uuid::Uuid::new_v4()));
    crate::cli::run_against(n, &["audit", "export", file.to_str().unwrap()]);
    std::fs::read(&file).unwrap()
}

/// Offline verification of a bundle.
pub fn verify(bytes: &[u8]) -> Result<bundle::Verdict, Failure> {
    bundle::verify(bytes, &mut |_, _| {}).map(|(_, v)| v)
}

#[tokio::test]
async fn after_an_exchange_both_logs_are_cosigned_reconciled_and_verify_offline() {
    let (ne, ng) = exchanged_pair().await;
    for n in [&ne, &ng] {
        let report = reconciliation(n).await;
        assert_eq!(report["peer_reachable"], true);
        let s = statuses(&report);
        // The referral request and the decision.
        assert!(s.len() >= 2, "{report}");
        assert!(s.iter().all(|s| s == "matched"), "{report}");
        let v = verify(&export(n)).expect("the bundle verifies");
        assert!(v.cosigned >= 1, "{v:?}");
        // The checkpoints list shows the peer's cosignature.
        let cps = get_json(n, "/api/v1/jtwg/checkpoints").await;
        assert!(cps["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["origin"] == format!("passerelle/{}", n.node)
                && c["cosigned_by"][0] == format!("passerelle/{}", n.node.counterpart())));
    }
    // Each node re-checks the other's log: unchanged, and every receipt it
    // holds is proven logged at its `log_index` by an inclusion proof.
    for n in [&ne, &ng] {
        let check = peer_check(n, "").await;
        assert!(check["first_bad_index"].is_null(), "{check}");
        assert!(
            check["detail"]
                .as_str()
                .unwrap()
                .contains("1 receipt(s) proven"),
            "{check}"
        );
        // The check is incremental: the next one starts where it stopped,
        // with nothing new to prove; `full` does it all again.
        let again = peer_check(n, "").await;
        assert_eq!(again["checked_from"], check["checked"], "{again}");
        assert!(again["detail"]
            .as_str()
            .unwrap()
            .contains("0 receipt(s) proven"));
        let full = peer_check(n, "?full=true").await;
        assert_eq!(full["checked_from"], 0, "{full}");
        assert!(full["detail"]
            .as_str()
            .unwrap()
            .contains("1 receipt(s) proven"));
    }
    // `passerelle audit reconcile` on the two bundles, and `audit verify`.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("ne.json"), dir.path().join("ng.json"));
    std::fs::write(&a, export(&ne)).unwrap();
    std::fs::write(&b, export(&ng)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["audit", "reconcile"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("RECONCILED"), "{stdout}");
}

#[tokio::test]
async fn with_the_peer_down_new_messages_are_pending_then_matched_after_recovery() {
    let (ne, ng) = exchanged_pair().await;
    ng.shut_down().await;
    let (_, _referral) = refer(&ne).await;
    let report = reconciliation(&ne).await;
    assert_eq!(report["peer_reachable"], false);
    let s = statuses(&report);
    assert!(s.contains(&"pending".to_owned()), "{report}");
    let ng = ng.restart().await;
    ne.wake.notify_one();
    eventually("everything matched after recovery", || async {
        let r = reconciliation(&ne).await;
        (r["peer_reachable"] == true && statuses(&r).iter().all(|s| s == "matched")).then_some(())
    })
    .await;
    drop(ng);
}

/// Values of the test case that identify or describe the person.
const PERSONAL: &[&str] = &[
    "Zainab",
    "Qwertyson",
    "+2348012345678",
    "Kofar Mata",
    "domestic_servitude",
];

#[tokio::test]
async fn the_jtwg_review_holds_no_personal_data_and_counts_are_suppressed() {
    let (ne, _ng) = exchanged_pair().await;
    for path in [
        "/api/v1/jtwg/exchange",
        "/api/v1/jtwg/checkpoints",
        "/api/v1/jtwg/reconciliation",
        "/api/v1/jtwg/statistics",
    ] {
        let mut v = get_json(&ne, path).await;
        // Signed notes are base64 noise: checked apart.
        if let Some(items) = v["items"].as_array_mut() {
            for i in items {
                i.as_object_mut().unwrap().remove("note");
            }
        }
        let text = v.to_string();
        for p in PERSONAL {
            assert!(!text.contains(p), "{path} leaks {p}");
        }
        let csv = ne
            .get(&format!("{path}?format=csv"), JtwgReviewer)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        assert!(csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let body = csv.text().await.unwrap();
        for p in PERSONAL {
            assert!(!body.contains(p), "{path} CSV leaks {p}");
        }
    }
    // One referral: below the default threshold of 5, so suppressed.
    let stats = get_json(&ne, "/api/v1/jtwg/statistics").await;
    let by_state = stats["referrals_by_state"].as_array().unwrap();
    assert!(!by_state.is_empty());
    assert!(by_state
        .iter()
        .all(|c| c["suppressed"] == true && c["count"].is_null()));
    let by_month = stats["referrals_by_month"].as_array().unwrap();
    let month = chrono::Utc::now().format("%Y-%m/outgoing").to_string();
    assert_eq!(by_month.len(), 1, "{by_month:?}");
    assert_eq!(by_month[0]["key"], month.as_str());
    assert_eq!(by_month[0]["suppressed"], true);
    // Caseworkers have no access to the review.
    let res = ne
        .get("/api/v1/jtwg/exchange", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    // ... and that refusal is itself in the log.
    let last = ne
        .db
        .read_blocking(|c| {
            let size = passerelle::store::audit::size(c)?;
            passerelle::store::audit::entries(c, size - 1, size)
        })
        .unwrap();
    assert_eq!(last[0].kind, "refusal");
    assert_eq!(last[0].code.as_deref(), Some("role_not_permitted"));
    assert_eq!(last[0].actor, "caseworker");
}

pub fn sql(n: &TestNode, statements: &[&str]) {
    n.db.write_blocking(|c: &mut AnyConnection| {
        use diesel::RunQueryDsl;
        for s in statements {
            diesel::sql_query(*s).execute(c)?;
        }
        Ok::<_, passerelle::store::DbError>(())
    })
    .unwrap();
}

/// What an administrator with direct database access would do to get past
/// the append-only triggers.
pub fn drop_guards(n: &TestNode) {
    if backend() == "postgres" {
        sql(
            n,
            &[
                "ALTER TABLE audit_log DISABLE TRIGGER USER",
                "ALTER TABLE audit_tree DISABLE TRIGGER USER",
                "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER",
            ],
        );
    } else {
        sql(
            n,
            &[
                "DROP TRIGGER audit_log_no_update",
                "DROP TRIGGER audit_log_no_delete",
                "DROP TRIGGER audit_tree_no_update",
            ],
        );
    }
}

async fn peer_check(n: &TestNode, query: &str) -> Value {
    let res = n
        .request(
            Method::POST,
            &format!("/api/v1/audit/peer-check{query}"),
            Admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_database_refuses_to_change_the_log() {
    let (ne, _ng) = exchanged_pair().await;
    for s in [
        "UPDATE audit_log SET outcome = 'refused' WHERE idx = 1",
        "DELETE FROM audit_log WHERE idx = 1",
        "UPDATE audit_tree SET hash = 'x' WHERE idx = 0",
        "DELETE FROM audit_checkpoints",
    ] {
        let refused = ne.db.write_blocking(|c: &mut AnyConnection| {
            use diesel::RunQueryDsl;
            diesel::sql_query(s)
                .execute(c)
                .map_err(passerelle::store::DbError::from)
        });
        assert!(refused.is_err(), "{s} was allowed");
    }
    verify(&export(&ne)).expect("still verifies");
}

#[tokio::test]
async fn a_changed_deleted_or_reordered_entry_is_named_by_verify_and_by_the_peer() {
    for (what, statements) in [
        (
            "changed",
            vec!["UPDATE audit_log SET outcome = 'refused' WHERE idx = 3"],
        ),
        ("deleted", vec!["DELETE FROM audit_log WHERE idx = 3"]),
        (
            "reordered",
            vec![
                "UPDATE audit_log SET idx = -1 WHERE idx = 3",
                "UPDATE audit_log SET idx = 3 WHERE idx = 4",
                "UPDATE audit_log SET idx = 4 WHERE idx = -1",
            ],
        ),
    ] {
        let (ne, ng) = exchanged_pair().await;
        drop_guards(&ne);
        sql(&ne, &statements);
        match verify(&export(&ne)) {
            Err(Failure::Entry { index, .. }) => assert_eq!(index, 3, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        // (the watch may have checked entry 3 before it changed: a full
        // check compares everything again)
        let check = peer_check(&ng, "?full=true").await;
        assert_eq!(check["first_bad_index"], 3, "{what}: {check}");
        // The offline command says so too, and fails.
        let file = ne.dir.path().join("bundle.json");
        std::fs::write(&file, export(&ne)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["audit", "verify"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("entry 3"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn forged_and_inconsistent_checkpoints_are_detected() {
    let (ne, ng) = exchanged_pair().await;
    // A forged checkpoint in the database: verify names it.
    drop_guards(&ne);
    let (size, note): (i64, String) = ne
        .db
        .read_blocking(|c| {
            let cp =
                passerelle::store::audit::latest_checkpoint(c, "passerelle/ne-anltp")?.unwrap();
            Ok::<_, passerelle::store::DbError>((cp.size, cp.note))
        })
        .unwrap();
    let mut lines: Vec<&str> = note.lines().collect();
    let forged_size = (size + 1000).to_string();
    lines[1] = &forged_size;
    let forged = lines.join("\n") + "\n";
    let bytes = {
        let mut v: Value = serde_json::from_slice(&export(&ne)).unwrap();
        let cps = v["body"]["checkpoints"].as_array_mut().unwrap();
        cps[0]["note"] = json!(forged);
        serde_json::to_vec(&v).unwrap()
    };
    // (the bundle's own signature no longer matches either: re-sign it with
    // Niamey's development key, which the fake Niamey holds)
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let resigned = ng.fake_peer().sign_body(v["body"].clone());
    match verify(&serde_json::to_vec(&resigned).unwrap()) {
        Err(Failure::Checkpoint { .. }) => {}
        other => panic!("forged checkpoint: {other:?}"),
    }
    // A forged checkpoint sent to the peer by the fake Niamey (Niamey's
    // development certificate, over real mTLS): refused, kept as evidence.
    let res = ng
        .fake_peer()
        .post(
            "/peer/v1/checkpoints",
            &json!({
                "checkpoint": forged,
                "from_size": size,
                "consistency": [],
                "leaves": [],
            }),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "invalid_checkpoint_signature").await;
    // The tree rewritten under a cosigned checkpoint: the peer refuses the
    // next checkpoint, keeps it as evidence and raises an alert.
    sql(
        &ne,
        &["UPDATE audit_tree SET hash = '0000000000000000000000000000000000000000000000000000000000000000' WHERE tree = 'own' AND level >= 1 AND idx = 0"],
    );
    ne.get("/api/v1/me", Caseworker).send().await.unwrap();
    let res = ne
        .request(Method::POST, "/api/v1/audit/checkpoints", Admin)
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, StatusCode::BAD_GATEWAY, "witnessing_failed").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("inconsistent_checkpoint"),
        "{p}"
    );
    let evidence = ng
        .db
        .read_blocking(|c| passerelle::store::audit::evidence(c, 10))
        .unwrap();
    assert_eq!(evidence.len(), 2);
    assert!(
        evidence[0].reason.starts_with("inconsistent_checkpoint"),
        "{evidence:?}"
    );
    assert!(
        evidence[1]
            .reason
            .starts_with("invalid_checkpoint_signature"),
        "{evidence:?}"
    );
    let alerts: Value = ng
        .get("/api/v1/admin/alerts", Admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        alerts.to_string().contains("checkpoint_refused"),
        "{alerts}"
    );
    // And offline: the rewritten tree no longer gives the cosigned roots.
    assert!(verify(&export(&ne)).is_err());
}

#[tokio::test]
async fn the_jtwg_reads_the_audit_log_page_by_page() {
    let n = spawn_node(passerelle::domain::ids::NodeId::NeAnltp).await;
    for _ in 0..3 {
        n.draft(&json!({})).await;
    }
    let whole = n.audit_log().await;
    assert!(whole.len() >= 3, "{}", whole.len());
    // Pages of two, in order, with no gap, end to end.
    let mut paged = Vec::new();
    let mut from = 0;
    loop {
        let v = n
            .get_ok(
                &format!("/api/v1/audit/entries?from={from}&limit=2"),
                JtwgReviewer,
            )
            .await;
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for e in items {
            assert_eq!(e["index"].as_u64(), Some(paged.len() as u64));
            paged.push(e["kind"].as_str().unwrap().to_owned());
        }
        match v["next_from"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    assert!(paged.len() >= whole.len());
    assert_eq!(
        paged[..whole.len()],
        whole.iter().map(|e| e.kind.clone()).collect::<Vec<_>>()[..]
    );
    // Past the end: an empty page.
    let v = n.get_ok("/api/v1/audit/entries?from=1000000", Admin).await;
    assert_eq!(v["items"], json!([]));
    // Caseworkers do not review the log; a page has at most 1,000 entries.
    let res = n
        .get("/api/v1/audit/entries", Caseworker)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN, "role_not_permitted").await;
    let res = n
        .get("/api/v1/audit/entries?limit=1001", JtwgReviewer)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = n
        .get("/api/v1/audit/entries?from=-1", JtwgReviewer)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // Past what an index can be (the contract run found it answered 200).
    let res = n
        .get(
            "/api/v1/audit/entries?from=9223372036854775808",
            JtwgReviewer,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}
