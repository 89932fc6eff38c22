//! The JTWG's review gives whole answers at scale, on both backends:
//! statistics past SQLite's 32,766 bound variables, the exchange log past
//! 100,000 records page by page with nothing cut, and the reconciliation
//! bounded by its period.
//!
//! The volumes are seeded with one SQL statement each (a fixture: tens of
//! thousands of referrals through the API would take the suite hours); the
//! answers are read through the API as the JTWG reads them.

use std::collections::HashSet;

use diesel::RunQueryDsl;
use passerelle::domain::roles::Role::*;
use serde_json::Value;

use crate::exchange::{both_in, refer, refer_and_accept};
use crate::helpers::*;

/// `SELECT i FROM seq` gives `0..n`.
fn numbers(n: i64) -> String {
    format!("WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {n} - 1)")
}

/// `i` as 12 digits, in the backend's dialect.
fn twelve_digits() -> &'static str {
    if backend() == "sqlite" {
        "printf('%012d', i)"
    } else {
        "lpad(i::text, 12, '0')"
    }
}

async fn seed(n: &TestNode, sql: String) {
    n.db.write(move |c| {
        diesel::sql_query(sql)
            .execute(c)
            .map_err(passerelle::store::DbError::from)
    })
    .await
    .unwrap();
}

/// `n` incoming referrals received today, each with its timeline entry.
async fn seed_cases(node: &TestNode, n: i64) {
    let digits = twelve_digits();
    seed(
        node,
        format!(
            "{} INSERT INTO cases (id, referral_id, reference, direction, state, version, \
             counterpart_node, details, created_at, updated_at, state_changed_at) \
             SELECT '00000000-0000-7000-8000-' || {digits}, '00000000-0000-7000-9000-' || {digits}, \
             'SEED-' || {digits}, 'incoming', 'received', 1, 'ng-naptip', '{{}}', \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM seq",
            numbers(n)
        ),
    )
    .await;
    seed(
        node,
        format!(
            "{} INSERT INTO case_events (id, case_id, version, at, kind, to_state, actor_kind) \
             SELECT '00000000-0000-7000-a000-' || {digits}, '00000000-0000-7000-8000-' || {digits}, \
             1, CURRENT_TIMESTAMP, 'received', 'received', 'peer' FROM seq",
            numbers(n)
        ),
    )
    .await;
}

/// `n` exchange records (alternately a message sent and one received),
/// far above the live log's indexes.
async fn seed_exchange(node: &TestNode, n: i64) {
    seed(
        node,
        format!(
            "{} INSERT INTO audit_log (idx, at, kind, actor, action, seq, outcome) \
             SELECT 1000000000 + i, CURRENT_TIMESTAMP, \
             CASE WHEN i % 2 = 0 THEN 'message_queued' ELSE 'message_received' END, \
             'seed', 'referral_request', i, 'accepted' FROM seq",
            numbers(n)
        ),
    )
    .await;
}

#[tokio::test]
async fn statistics_count_every_case_past_sqlites_bound_variable_limit() {
    let ne = spawn_node(passerelle::domain::ids::NodeId::NeAnltp).await;
    seed_cases(&ne, 33_000).await;
    let received = |s: Value| -> Value {
        let cells = s["referrals_by_state"].as_array().unwrap();
        let c = cells.iter().find(|c| c["key"] == "incoming/received");
        c.unwrap_or_else(|| panic!("{s}"))["count"].clone()
    };
    // Less than a month: drawn from the cases themselves.
    let hour = chrono::Duration::hours(1);
    let t = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (from, to) = (t(chrono::Utc::now() - hour), t(chrono::Utc::now() + hour));
    let path = format!("/api/v1/jtwg/statistics?from={from}&to={to}");
    assert_eq!(received(ne.get_ok(&path, JtwgReviewer).await), 33_000);
    // All time: from the monthly rollup, which the fixture went around; it
    // is rebuilt at the next start, as on a node upgraded to it.
    let not_built = if backend() == "sqlite" { "0" } else { "FALSE" };
    seed(
        &ne,
        format!("UPDATE statistics_rollup SET built = {not_built}"),
    )
    .await;
    ne.shut_down().await;
    let ne = ne.restart().await;
    let s = ne.get_ok("/api/v1/jtwg/statistics", JtwgReviewer).await;
    assert_eq!(received(s), 33_000);
}

/// Every page of `path` (limit `limit`), following `next_cursor`.
async fn all_pages(n: &TestNode, path: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{path}{}limit={limit}",
            if path.contains('?') { '&' } else { '?' }
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = n.get_ok(&url, JtwgReviewer).await;
        pages += 1;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn the_exchange_log_past_100000_records_is_read_to_the_end_page_by_page() {
    let (ne, ng) = spawn_pair().await;
    let (_, referral) = refer(&ne).await;
    both_in(&ne, &ng, referral, "received").await;
    let live = ne.get_ok("/api/v1/jtwg/exchange", JtwgReviewer).await["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(live >= 2, "the referral sent and its receipt");
    seed_exchange(&ne, 100_001).await;

    let (items, pages) = all_pages(&ne, "/api/v1/jtwg/exchange", 10_000).await;
    assert_eq!(items.len(), live + 100_001);
    assert_eq!(pages, (live + 100_001).div_ceil(10_000));
    let indexes: Vec<u64> = items.iter().map(|i| i["index"].as_u64().unwrap()).collect();
    assert!(
        indexes.windows(2).all(|w| w[0] < w[1]),
        "log order, no repeat"
    );
    assert_eq!(
        *indexes.last().unwrap(),
        1_000_000_000 + 100_000,
        "the newest is there"
    );

    // Filters are applied before paging: full pages of what was asked.
    let (incoming, _) = all_pages(
        &ne,
        "/api/v1/jtwg/exchange?direction=incoming&type=referral_request",
        7_000,
    )
    .await;
    assert_eq!(incoming.len(), 50_000);
    assert!(incoming.iter().all(|i| i["direction"] == "incoming"));

    // A cursor this server did not issue is refused clearly.
    let res = ne
        .get("/api/v1/jtwg/exchange?cursor=yesterday", JtwgReviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["code"], "invalid_cursor");
}

#[tokio::test]
async fn the_reconciliation_keeps_to_its_period() {
    let (ne, ng) = spawn_pair().await;
    let (_, first) = refer(&ne).await;
    both_in(&ne, &ng, first, "received").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, second) = refer(&ne).await;
    both_in(&ne, &ng, second, "received").await;

    let rows = |v: &Value| -> HashSet<String> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["message_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let at = between.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let all_report = ne.get_ok("/api/v1/jtwg/reconciliation", JtwgReviewer).await;
    let all = &all_report;
    let before = ne
        .get_ok(
            &format!("/api/v1/jtwg/reconciliation?to={at}"),
            JtwgReviewer,
        )
        .await;
    let after = ne
        .get_ok(
            &format!("/api/v1/jtwg/reconciliation?from={at}"),
            JtwgReviewer,
        )
        .await;
    let (all, before_rows, after_rows) = (rows(all), rows(&before), rows(&after));
    assert!(!before_rows.is_empty() && !after_rows.is_empty());
    assert!(before_rows.is_disjoint(&after_rows));
    assert_eq!(&before_rows | &after_rows, all);
    let counted: u64 = after["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, after_rows.len(), "counts of the period");

    // Page by page, one message at a time: the same messages, each once,
    // and every page counts the whole period.
    let mut paged = Vec::new();
    let mut path = "/api/v1/jtwg/reconciliation?limit=1".to_owned();
    loop {
        let page = ne.get_ok(&path, JtwgReviewer).await;
        assert_eq!(page["rows"].as_array().unwrap().len(), 1, "{page}");
        assert_eq!(page["counts"], all_report["counts"], "{page}");
        paged.extend(rows(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/jtwg/reconciliation?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged.len(), all.len(), "no message twice");
    assert_eq!(paged.into_iter().collect::<HashSet<_>>(), all);
    let bad = ne
        .get("/api/v1/jtwg/reconciliation?cursor=nonsense", JtwgReviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn the_handover_board_is_read_page_by_page_with_nothing_left_out() {
    let (ne, ng) = spawn_pair().await;
    let mut accepted = HashSet::new();
    for i in 0..3 {
        let (_, ng_id, _) = refer_and_accept(&ne, &ng, &format!("handover {i}")).await;
        accepted.insert(ng_id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/handovers?limit=2&cursor={c}"),
            None => "/api/v1/handovers?limit=2".to_owned(),
        };
        let page = ng.get_ok(&path, Liaison).await;
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["case_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 3, "each once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), accepted);
    let res = ng
        .get("/api/v1/handovers?limit=0", Liaison)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn checkpoints_are_read_page_by_page_this_nodes_then_the_peers() {
    let ne = spawn_node(passerelle::domain::ids::NodeId::NeAnltp).await;
    seed(
        &ne,
        format!(
            "{} INSERT INTO audit_checkpoints (origin, size, root, signed_at, note, recorded_at) \
             SELECT 'passerelle/ng-naptip', 1 + i, 'root', CURRENT_TIMESTAMP, 'note', \
             CURRENT_TIMESTAMP FROM seq",
            numbers(2_500)
        ),
    )
    .await;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/jtwg/checkpoints?limit=1000&cursor={c}"),
            None => "/api/v1/jtwg/checkpoints?limit=1000".to_owned(),
        };
        let page = ne.get_ok(&path, JtwgReviewer).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let peers: Vec<i64> = all
        .iter()
        .filter(|c| c["origin"] == "passerelle/ng-naptip")
        .map(|c| c["size"].as_i64().unwrap())
        .collect();
    assert_eq!(
        peers,
        (1..=2_500).collect::<Vec<_>>(),
        "every one, in order"
    );
    let first_peer = all
        .iter()
        .position(|c| c["origin"] == "passerelle/ng-naptip")
        .unwrap();
    assert!(
        all[..first_peer]
            .iter()
            .all(|c| c["origin"] == "passerelle/ne-anltp"),
        "this node's first"
    );
    // Newest first, one log: the console's view of where each log stands.
    let sizes = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["size"].as_i64().unwrap())
            .collect()
    };
    let first = ne
        .get_ok(
            "/api/v1/jtwg/checkpoints?log=peer&order=newest&limit=3",
            JtwgReviewer,
        )
        .await;
    assert_eq!(sizes(&first), [2_500, 2_499, 2_498]);
    let next = ne
        .get_ok(
            &format!(
                "/api/v1/jtwg/checkpoints?log=peer&order=newest&limit=3&cursor={}",
                first["next_cursor"].as_str().unwrap()
            ),
            JtwgReviewer,
        )
        .await;
    assert_eq!(sizes(&next), [2_497, 2_496, 2_495]);
}

/// Every page of an administrator's list at `path` (`limit` per page).
async fn admin_pages(n: &TestNode, path: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = n.get_ok(&url, Admin).await;
        pages += 1;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn administrators_read_every_alert_and_queued_message_page_by_page() {
    let ne = spawn_node(passerelle::domain::ids::NodeId::NeAnltp).await;
    let digits = twelve_digits();
    seed(
        &ne,
        format!(
            "{} INSERT INTO peer_alerts (id, at, kind, detail) \
             SELECT '00000000-0000-7000-8000-' || {digits}, CURRENT_TIMESTAMP, 'sequence_gap', \
             'seeded' FROM seq",
            numbers(250)
        ),
    )
    .await;
    let (alerts, pages) = admin_pages(&ne, "/api/v1/admin/alerts", 100).await;
    let seeded = alerts.iter().filter(|a| a["detail"] == "seeded").count();
    assert_eq!(seeded, 250, "none left out");
    assert!(pages >= 3);

    // Three referrals queued for a peer that is not there.
    for _ in 0..3 {
        refer(&ne).await;
    }
    let (queued, pages) = admin_pages(&ne, "/api/v1/admin/messages?status=pending", 2).await;
    let seqs: Vec<i64> = queued.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(pages, 2);
}
