//! The JTWG's statistics read whole months from the monthly rollup, kept
//! as cases move and messages are logged, and shorter stretches from the
//! cases and the log themselves: both give the same answer for the same
//! traffic, and a rollup rebuilt from the history (a node upgraded to it)
//! gives it too.

use chrono::{Datelike, Months, NaiveTime, Utc};
use passerelle::domain::roles::Role::*;
use serde_json::Value;

use crate::exchange::{all_settled, both_in, refer, refer_and_accept};
use crate::helpers::*;

/// Every count shown (suppression at 1 hides nothing).
fn count_everything() -> Tweak {
    std::sync::Arc::new(|s| s.audit.min_cell_count = 1)
}

/// The statistics of all time, of this month whole, and of this month but
/// its first second (a stretch read from the cases and the log).
async fn three_ways(n: &TestNode) -> [Value; 3] {
    let start = Utc::now()
        .date_naive()
        .with_day(1)
        .unwrap()
        .and_time(NaiveTime::MIN);
    let end = start.checked_add_months(Months::new(1)).unwrap();
    let t = |at: chrono::NaiveDateTime| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let second = start + chrono::Duration::seconds(1);
    [
        n.get_ok("/api/v1/jtwg/statistics", JtwgReviewer).await,
        n.get_ok(
            &format!("/api/v1/jtwg/statistics?from={}&to={}", t(start), t(end)),
            JtwgReviewer,
        )
        .await,
        n.get_ok(
            &format!("/api/v1/jtwg/statistics?from={}&to={}", t(second), t(end)),
            JtwgReviewer,
        )
        .await,
    ]
}

fn count(s: &Value, table: &str, key: &str) -> u64 {
    let cells = s[table].as_array().unwrap();
    let cell = cells.iter().find(|c| c["key"] == key);
    cell.and_then(|c| c["count"].as_u64()).unwrap_or(0)
}

#[tokio::test]
async fn whole_months_from_the_rollup_agree_with_the_cases_and_log_and_with_a_rebuild() {
    let (ne, ng) = spawn_pair_with(count_everything(), count_everything()).await;
    let (a, _, _) = refer_and_accept(&ne, &ng, "ok").await;
    let (b, _, _) = refer_and_accept(&ne, &ng, "ok").await;
    let (c, referral) = refer(&ne).await;
    both_in(&ne, &ng, referral, "received").await;
    ne.draft(&ready_case()).await;
    for id in [&a, &b, &c] {
        all_settled(&ne, id).await;
    }
    for n in [&ne, &ng] {
        let [all, month, stretch] = three_ways(n).await;
        assert_eq!(all, month, "all time and the month whole differ");
        assert_eq!(all, stretch, "the rollup and the cases and log differ");
    }
    let [all, ..] = three_ways(&ne).await;
    assert_eq!(count(&all, "referrals_by_state", "outgoing/accepted"), 2);
    assert_eq!(count(&all, "referrals_by_state", "outgoing/received"), 1);
    assert_eq!(count(&all, "referrals_by_state", "outgoing/draft"), 1);
    let month = Utc::now().format("%Y-%m/outgoing").to_string();
    assert_eq!(count(&all, "referrals_by_month", &month), 4);
    assert!(count(&all, "messages_by_type", "outgoing/referral_request") >= 3);
    let timings = all["timings"].as_array().unwrap();
    let timed = |step: &str| {
        let t = timings.iter().find(|t| t["step"] == step).unwrap();
        t["count"].as_u64().unwrap_or(0)
    };
    assert_eq!(timed("decision"), 2, "{all}");
    assert!(timed("acknowledgement") >= 3, "{all}");
    // A case dated next month (the node's clock moved forward) is counted,
    // by the rollup now and by the rebuild below.
    ne.ctx.clock.advance(chrono::Duration::days(40));
    ne.draft(&ready_case()).await;
    let [all, ..] = three_ways(&ne).await;
    assert_eq!(count(&all, "referrals_by_state", "outgoing/draft"), 2);
    // Rebuilt from the history at start, as on a node upgraded to it.
    let not_built = if backend() == "sqlite" { "0" } else { "FALSE" };
    ne.db
        .write(move |c| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!("UPDATE statistics_rollup SET built = {not_built}"))
                .execute(c)
                .map_err(passerelle::store::DbError::from)
        })
        .await
        .unwrap();
    ne.shut_down().await;
    let ne = ne.restart().await;
    let [rebuilt, ..] = three_ways(&ne).await;
    assert_eq!(all, rebuilt, "the rebuilt rollup differs");
}
