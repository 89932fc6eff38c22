//! Optimistic concurrency (ETag / If-Match) and idempotent creates.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn a_stale_write_gets_412_and_loses_nothing() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let (id, tag) = n.draft(&json!({ "details": { "sex": "female" } })).await;
    let put = |tag: Option<String>, body: Value| {
        let mut r = n
            .request(Method::PUT, &format!("/api/v1/cases/{id}"), Caseworker)
            .json(&body);
        if let Some(t) = tag {
            r = r.header("If-Match", t);
        }
        r.send()
    };
    // Two caseworkers read version 1; the first write wins…
    let first = put(
        Some(tag.clone()),
        json!({ "details": { "sex": "female", "risk_level": "high" } }),
    )
    .await
    .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let new_tag = etag(&first);
    assert_ne!(new_tag, tag);
    // …the second, based on the stale version, is refused and changes nothing.
    let second = put(Some(tag.clone()), json!({ "details": { "sex": "male" } }))
        .await
        .unwrap();
    // The refusal says where the case is now, in the body and the ETag.
    let current_tag = etag(&second);
    let p = assert_problem(second, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    assert!(p["detail"].as_str().unwrap().contains("version 2"));
    assert_eq!(p["current_version"], 2);
    assert_eq!(current_tag, "\"2\"");
    let (_, v, current) = n.read(Caseworker, &id).await;
    assert_eq!(current.as_deref(), Some(new_tag.as_str()));
    assert_eq!(
        (
            v["details"]["sex"].as_str(),
            v["details"]["risk_level"].as_str()
        ),
        (Some("female"), Some("high"))
    );
    // Same for transitions.
    let res = n
        .transition(Caseworker, &id, &tag, json!({ "action": "submit" }))
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED, "version_mismatch").await;
    // If-Match is required, and must be an ETag.
    assert_problem(
        put(None, json!({})).await.unwrap(),
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    )
    .await;
    assert_problem(
        put(Some("3".into()), json!({})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_if_match",
    )
    .await;
    let res = n
        .request(
            Method::POST,
            &format!("/api/v1/cases/{id}/transitions"),
            Caseworker,
        )
        .json(&json!({ "action": "submit" }))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PRECONDITION_REQUIRED, "if_match_required").await;
    let (_, v, _) = n.read(Caseworker, &id).await;
    assert_eq!(v["version"], 2);
}

#[tokio::test]
async fn concurrent_writes_with_one_etag_let_exactly_one_through() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let (id, tag) = n.draft(&ready_case()).await;
    let attempts = (0..6).map(|i| {
        let body = json!({ "details": { "dependants_count": i } });
        n.request(Method::PUT, &format!("/api/v1/cases/{id}"), Caseworker)
            .header("If-Match", &tag)
            .json(&body)
            .send()
    });
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = results.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count(),
        5,
        "{statuses:?}"
    );
    let (_, v, _) = n.read(Caseworker, &id).await;
    assert_eq!(v["version"], 2);
}

#[tokio::test]
async fn creates_are_idempotent_with_a_key() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let post = |key: &str, body: Value| {
        n.request(Method::POST, "/api/v1/cases", Caseworker)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("key-1", ready_case()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    // A retry (lost response) returns the same case, flagged as a replay.
    let again = post("key-1", ready_case()).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"].to_str().unwrap(), location);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    // The same key with a different body is an error, not a silent replay.
    let other = post("key-1", json!({ "details": { "sex": "male" } }))
        .await
        .unwrap();
    assert_problem(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Keys are per user: another user's key-1 is a new case.
    let res = n
        .request(Method::POST, "/api/v1/cases", Supervisor)
        .header("Idempotency-Key", "key-1")
        .json(&ready_case())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Concurrent retries with one key create one case.
    let burst = futures_util::future::join_all((0..5).map(|_| post("key-2", ready_case()))).await;
    let ids: std::collections::HashSet<String> =
        futures_util::future::join_all(burst.into_iter().map(|r| async {
            let r = r.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }))
        .await
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 1);
    let all: Value = n
        .get("/api/v1/cases", Caseworker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    // A bad key is refused.
    let res = post("", ready_case()).await.unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
}

/// PostgreSQL ends the node's sessions while caseworkers create, submit and
/// read cases (a server restart, a failover, or a replica paused past
/// `idle_in_transaction_session_timeout`, whose session the server ends).
/// Every answer is the request's outcome or a 503 that says to retry
/// (`database_unavailable`, or `audit_unavailable` when it was the access
/// log's entry that could not be written; nothing was changed), never a 500; retrying makes each case
/// exactly once and submits it once.
#[tokio::test]
async fn a_lost_database_connection_is_503_and_a_retry_loses_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    if backend() != "postgres" {
        return;
    }
    let n = Arc::new(spawn_node(NodeId::NeAnltp).await);
    let name = n.database_url.rsplit('/').next().unwrap().to_owned();
    let admin = std::env::var("PASSERELLE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    // Ends every session of the node's database, 25 times a second.
    let stop = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(AtomicUsize::new(0));
    let cutter = {
        let (stop, ended) = (stop.clone(), ended.clone());
        std::thread::spawn(move || {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Ended {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                ended: bool,
            }
            let mut c = diesel::PgConnection::establish(&admin).unwrap();
            let sql = format!(
                "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            );
            while !stop.load(Ordering::Relaxed) {
                let rows: Vec<Ended> = diesel::sql_query(&sql).load(&mut c).unwrap();
                ended.fetch_add(rows.iter().filter(|r| r.ended).count(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(40));
            }
        })
    };
    // Answers other than the outcome: each must say to retry.
    let unavailable = Arc::new(AtomicUsize::new(0));
    let until_done = |n: Arc<TestNode>,
                      unavailable: Arc<AtomicUsize>,
                      call: Arc<dyn Fn(&TestNode) -> Call + Send + Sync>| async move {
        loop {
            let res = call(&n).send().await.unwrap();
            if res.status().is_success() {
                return res;
            }
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            assert!(
                status == StatusCode::SERVICE_UNAVAILABLE
                    && ["database_unavailable", "database_busy", "audit_unavailable"]
                        .contains(&body["code"].as_str().unwrap_or_default()),
                "{status}: {body}"
            );
            unavailable.fetch_add(1, Ordering::Relaxed);
        }
    };
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (n, unavailable) = (n.clone(), unavailable.clone());
            tokio::spawn(async move {
                for i in 0..8 {
                    let key = format!("cut-{w}-{i}");
                    let create: Arc<dyn Fn(&TestNode) -> Call + Send + Sync> =
                        Arc::new(move |n: &TestNode| {
                            n.request(Method::POST, "/api/v1/cases", Caseworker)
                                .header("Idempotency-Key", &key)
                                .json(&ready_case())
                        });
                    let res = until_done(n.clone(), unavailable.clone(), create).await;
                    let tag = etag(&res);
                    let id = res.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    // A submit whose answer was lost may have happened: a
                    // retry with the old ETag then gets 412, and a read says.
                    let submit: Arc<dyn Fn(&TestNode) -> Call + Send + Sync> = {
                        let id = id.clone();
                        Arc::new(move |n: &TestNode| {
                            n.request(
                                Method::POST,
                                &format!("/api/v1/cases/{id}/transitions"),
                                Caseworker,
                            )
                            .header("If-Match", &tag)
                            .json(&json!({ "action": "submit" }))
                        })
                    };
                    let res = submit(&n).send().await.unwrap();
                    if !res.status().is_success() {
                        let status = res.status();
                        let body: Value = res.json().await.unwrap();
                        assert!(
                            [
                                StatusCode::SERVICE_UNAVAILABLE,
                                StatusCode::PRECONDITION_FAILED
                            ]
                            .contains(&status),
                            "{status}: {body}"
                        );
                        if status == StatusCode::SERVICE_UNAVAILABLE {
                            unavailable.fetch_add(1, Ordering::Relaxed);
                            until_done(n.clone(), unavailable.clone(), submit).await;
                        }
                    }
                    let read: Arc<dyn Fn(&TestNode) -> Call + Send + Sync> = {
                        let id = id.clone();
                        Arc::new(move |n: &TestNode| {
                            n.get(&format!("/api/v1/cases/{id}"), Caseworker)
                        })
                    };
                    let state = until_done(n.clone(), unavailable.clone(), read)
                        .await
                        .json::<Value>()
                        .await
                        .unwrap()["state"]
                        .clone();
                    assert_eq!(state, "submitted");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    cutter.join().unwrap();
    // Once the database stays up, every case is there exactly once, submitted once.
    let all = n.get_ok("/api/v1/cases?limit=200", Caseworker).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 48);
    assert!(items.iter().all(|c| c["state"] == "submitted"));
    eprintln!(
        "connections cut: {} sessions ended, {} answers said to retry",
        ended.load(Ordering::Relaxed),
        unavailable.load(Ordering::Relaxed)
    );
    assert!(ended.load(Ordering::Relaxed) > 0);
}
