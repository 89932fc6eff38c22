//! The JTWG's review (role `jtwg_reviewer`, read-only, no personal data):
//! the exchange log, the reconciliation report between the two nodes, and
//! statistics with small counts suppressed (checkpoints: [`super::checkpoints`]).
//! Every table is also CSV (`?format=csv` or `Accept: text/csv`).

use crate::domain::problem::ProblemCode;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::cases::CommonErrors;
use super::csv::{csv_response, link_next, opt, wants_csv};
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::app::review;
use crate::audit::kinds;
use crate::audit::reconcile;
use crate::domain::roles::Permission;
use crate::domain::statistics::Statistics;

/// Period and output format.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start of the period, inclusive: an RFC 3339 instant, or a date
    /// (`2026-12-01`: its midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2026-12-01", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive: an RFC 3339 instant, or a date (its
    /// midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2027-01-01T00:00:00Z", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    #[param(schema_with = super::format_schema)]
    pub format: Option<String>,
}

/// Period, message type, direction and output format of the exchange log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExchangeQuery {
    /// Start of the period, inclusive: an RFC 3339 instant, or a date
    /// (`2026-12-01`: its midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2026-12-01", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive: an RFC 3339 instant, or a date (its
    /// midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2027-01-01T00:00:00Z", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub to: Option<DateTime<Utc>>,
    /// Only this message type.
    #[serde(rename = "type")]
    pub message_type: Option<crate::domain::message_type::MessageType>,
    /// `outgoing` or `incoming`.
    #[param(schema_with = super::direction_schema)]
    pub direction: Option<String>,
    /// `json` (default) or `csv`.
    #[param(schema_with = super::format_schema)]
    pub format: Option<String>,
    /// `next_cursor` of the previous page (JSON), or of its `Link` header
    /// (CSV).
    pub cursor: Option<String>,
    /// Records per page, 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// Default records per page of the exchange log.
pub(super) const EXCHANGE_PAGE: u32 = 1000;
/// Most records per page of the exchange log.
pub(super) const EXCHANGE_MAX_PAGE: u32 = 10_000;

/// One exchanged message as the log records it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeRecord {
    /// Log index on this node.
    pub index: u64,
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// `message_queued`, `message_received`, `message_refused` or `receipt_received`.
    pub kind: String,
    /// `outgoing` (this node sent it) or `incoming`.
    pub direction: String,
    /// Message type.
    pub message_type: String,
    /// Message id.
    pub message_id: Option<String>,
    /// Referral id (shared by both nodes; not personal data).
    pub referral_id: Option<String>,
    /// Sequence number in its direction.
    pub seq: Option<i64>,
    /// SHA-256 of the message (or receipt).
    pub digest: Option<String>,
    /// For receipts: the peer's log index of the message.
    pub peer_index: Option<i64>,
    /// Outcome.
    pub outcome: String,
    /// Refusal or rejection code.
    pub code: Option<String>,
}

/// A page of the exchange log.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeLog {
    /// Records in log order.
    pub items: Vec<ExchangeRecord>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn direction_of(kind: &str) -> &'static str {
    match kind {
        kinds::MESSAGE_QUEUED | kinds::RECEIPT_RECEIVED => "outgoing",
        _ => "incoming",
    }
}

pub(super) fn naive(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(|t| t.naive_utc())
}

/// The exchange log of this node, both directions, by period, type and
/// direction, a page at a time (every filter applied before paging; nothing
/// is cut: follow `next_cursor` to the end).
#[utoipa::path(
    tag = "jtwg",
    params(ExchangeQuery),
    responses(
        (status = 200, description = "A page of messages and receipts, in log order (JSON, or CSV with the next page in a `Link` header, rel=\"next\")", content((ExchangeLog = "application/json"), (String = "text/csv"))),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/jtwg/exchange")]
pub async fn exchange_log(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ExchangeQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReviewExchange)?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format.as_deref())?;
    if let Some(d) = q.direction.as_deref() {
        if d != "outgoing" && d != "incoming" {
            return Err(ApiError::Refused(
                ProblemCode::InvalidQuery,
                "direction must be `outgoing` or `incoming`".into(),
            ));
        }
    }
    let limit = q.limit.unwrap_or(EXCHANGE_PAGE);
    if let Some(e) = super::limit_out_of_range(limit, EXCHANGE_MAX_PAGE) {
        return Err(ApiError::Validation(vec![e]));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| c.parse::<u64>().map_err(|_| super::invalid_cursor()))
        .transpose()?;
    let (entries, more) = state
        .app()
        .exchange_page(review::ExchangeFilter {
            from: naive(q.from),
            to: naive(q.to),
            message_type: q.message_type.map(|t| t.as_str().to_owned()),
            outgoing: q.direction.as_deref().map(|d| d == "outgoing"),
            after,
            limit: i64::from(limit),
        })
        .await?;
    let next_cursor = more
        .then(|| entries.last().map(|e| e.index.to_string()))
        .flatten();
    let items: Vec<ExchangeRecord> = entries
        .into_iter()
        .map(|e| ExchangeRecord {
            index: e.index,
            at: e.at,
            direction: direction_of(&e.kind).to_owned(),
            kind: e.kind,
            message_type: e.action,
            message_id: e.message_id,
            referral_id: e.referral_id,
            seq: e.seq,
            digest: e.digest,
            peer_index: e.peer_index,
            outcome: e.outcome,
            code: e.code,
        })
        .collect();
    if csv {
        let res = csv_response(
            "exchange",
            &[
                "index",
                "at",
                "kind",
                "direction",
                "message_type",
                "message_id",
                "referral_id",
                "seq",
                "digest",
                "peer_index",
                "outcome",
                "code",
            ],
            items
                .iter()
                .map(|r| {
                    vec![
                        r.index.to_string(),
                        r.at.to_rfc3339(),
                        r.kind.clone(),
                        r.direction.clone(),
                        r.message_type.clone(),
                        opt(&r.message_id),
                        opt(&r.referral_id),
                        opt(&r.seq),
                        opt(&r.digest),
                        opt(&r.peer_index),
                        r.outcome.clone(),
                        opt(&r.code),
                    ]
                })
                .collect(),
        );
        return Ok(link_next(res, &req, next_cursor.as_deref()));
    }
    Ok(HttpResponse::Ok().json(ExchangeLog { items, next_cursor }))
}

/// Period, page and output format of the reconciliation report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    /// Start of the period, inclusive: an RFC 3339 instant, or a date
    /// (`2026-12-01`: its midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2026-12-01", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive: an RFC 3339 instant, or a date (its
    /// midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2027-01-01T00:00:00Z", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    #[param(schema_with = super::format_schema)]
    pub format: Option<String>,
    /// `next_cursor` of the previous page (JSON), or of its `Link` header
    /// (CSV).
    pub cursor: Option<String>,
    /// Messages per page, 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// A page of the reconciliation report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reconciliation {
    /// Whether the peer's log could be read just now (if not, what it says
    /// is as of the last time it could, and records it should hold since
    /// then are `unverified`).
    pub peer_reachable: bool,
    /// The messages of the period, in the order they were first logged
    /// (by the sender; by the receiver when the sender has no record).
    pub rows: Vec<reconcile::Row>,
    /// How many messages of the whole period (all pages) have each status.
    pub counts: std::collections::BTreeMap<String, u64>,
    /// Cursor of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The cursor of the page after the row first seen at `at` with `id`.
fn reconciliation_cursor((at, id): &(NaiveDateTime, String)) -> String {
    format!("{}.{id}", at.and_utc().timestamp_micros())
}

fn parse_reconciliation_cursor(c: &str) -> Option<(NaiveDateTime, String)> {
    let (micros, id) = c.split_once('.')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    uuid::Uuid::parse_str(id).ok()?;
    Some((at, id.to_owned()))
}

/// Every message either node sent in the period (`from`, `to`: when its
/// sender logged it; a message its sender has no record of, when it was
/// received), matched with its receipt and the receiver's log entry:
/// `matched`, `pending`, `missing`, `rejected`, `conflict`, or
/// `unverified` while the other log cannot be consulted. Kept up to date
/// incrementally, so a page costs the same whatever the history's length.
#[utoipa::path(
    tag = "jtwg",
    params(ReconciliationQuery),
    responses(
        (status = 200, description = "A page of the report (JSON or CSV; CSV pages are linked by a `Link: rel=\"next\"` header)", content((Reconciliation = "application/json"), (String = "text/csv"))),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/jtwg/reconciliation")]
pub async fn reconciliation(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ReconciliationQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReviewExchange)?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format.as_deref())?;
    let limit = q.limit.unwrap_or(EXCHANGE_PAGE);
    if let Some(e) = super::limit_out_of_range(limit, EXCHANGE_MAX_PAGE) {
        return Err(ApiError::Validation(vec![e]));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| parse_reconciliation_cursor(c).ok_or_else(super::invalid_cursor))
        .transpose()?;
    let peer_reachable = state
        .witnessing
        .reconcile_catch_up()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let page = state
        .app()
        .reconciliation_page(naive(q.from), naive(q.to), after, i64::from(limit))
        .await?;
    let next_cursor = page.next.as_ref().map(reconciliation_cursor);
    if csv {
        let res = csv_response(
            "reconciliation",
            &[
                "message_id",
                "sender",
                "receiver",
                "message_type",
                "seq",
                "sent_index",
                "receipt_index",
                "received_index",
                "status",
                "detail",
            ],
            page.rows
                .iter()
                .map(|r| {
                    vec![
                        r.message_id.clone(),
                        r.sender.clone(),
                        r.receiver.clone(),
                        r.message_type.clone(),
                        opt(&r.seq),
                        opt(&r.sent_index),
                        opt(&r.receipt_index),
                        opt(&r.received_index),
                        r.status.clone(),
                        opt(&r.detail),
                    ]
                })
                .collect(),
        );
        return Ok(link_next(res, &req, next_cursor.as_deref()));
    }
    Ok(HttpResponse::Ok().json(Reconciliation {
        peer_reachable,
        rows: page.rows,
        counts: page.counts,
        next_cursor,
    }))
}

/// Statistics per period, small counts suppressed.
#[utoipa::path(
    tag = "jtwg",
    params(PeriodQuery),
    responses((status = 200, description = "Statistics (JSON, or CSV of the counts and timings)", content((Statistics = "application/json"), (String = "text/csv"))), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/jtwg/statistics")]
pub async fn statistics(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReviewExchange)?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format.as_deref())?;
    let min = state.audit.min_cell_count;
    let (from, to) = (naive(q.from), naive(q.to));
    let stats = state.app().statistics(from, to, min).await?;
    if csv {
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (table, list) in [
            ("referrals_by_month", &stats.referrals_by_month),
            ("referrals_by_state", &stats.referrals_by_state),
            ("messages_by_type", &stats.messages_by_type),
            ("overdue_by_state", &stats.overdue_by_state),
        ] {
            for c in list {
                rows.push(vec![
                    table.to_owned(),
                    c.key.clone(),
                    opt(&c.count),
                    String::new(),
                    String::new(),
                    c.suppressed.to_string(),
                ]);
            }
        }
        for t in &stats.timings {
            rows.push(vec![
                "timings".to_owned(),
                t.step.clone(),
                opt(&t.count),
                opt(&t.median_hours),
                opt(&t.p90_hours),
                t.suppressed.to_string(),
            ]);
        }
        return Ok(csv_response(
            "statistics",
            &[
                "table",
                "key",
                "count",
                "median_hours",
                "p90_hours",
                "suppressed",
            ],
            rows,
        ));
    }
    Ok(HttpResponse::Ok().json(stats))
}
