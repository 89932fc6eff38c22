//! The audit log's checkpoints as the JTWG reviews them (both logs, with
//! their cosignatures, a page at a time), and the administrators' actions
//! on them: sign one now, check the peer's log now.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::cases::CommonErrors;
use super::csv::{csv_response, link_next, wants_csv};
use super::jtwg::{naive, EXCHANGE_MAX_PAGE, EXCHANGE_PAGE};
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::app::audit as store;
use crate::audit::origin;
use crate::domain::problem::ProblemCode;
use crate::domain::roles::Permission;
use crate::peer::witness::{PeerCheck, Round};

/// Period, output format and page of the checkpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// Signed at or after: an RFC 3339 instant, or a date (`2026-12-01`:
    /// its midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2026-12-01", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub from: Option<DateTime<Utc>>,
    /// Signed before: an RFC 3339 instant, or a date (its midnight UTC).
    #[serde(default, deserialize_with = "super::date_or_instant")]
    #[param(value_type = Option<String>, example = "2027-01-01T00:00:00Z", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$")]
    pub to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    #[param(schema_with = super::format_schema)]
    pub format: Option<String>,
    /// `next_cursor` of the previous page (JSON), or of its `Link` header
    /// (CSV).
    pub cursor: Option<String>,
    /// Checkpoints per page, 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// `oldest` (default: each log oldest first) or `newest` (each log
    /// newest first). Keep it the same from page to page.
    #[param(schema_with = order_schema)]
    pub order: Option<String>,
    /// `own` (this node's log) or `peer` (the other node's); both when absent.
    #[param(schema_with = log_schema)]
    pub log: Option<String>,
}

fn log_schema() -> utoipa::openapi::Object {
    super::string_enum(&["own", "peer"])
}

fn order_schema() -> utoipa::openapi::Object {
    super::string_enum(&["oldest", "newest"])
}

/// A checkpoint and who cosigned it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Whose log: `passerelle/ne-anltp` or `passerelle/ng-naptip`.
    pub origin: String,
    /// Number of entries.
    pub size: i64,
    /// Tree root (hex).
    pub root: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// Key names that cosigned it.
    pub cosigned_by: Vec<String>,
    /// The signed note with its cosignature lines.
    pub note: String,
}

/// Checkpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointList {
    /// This node's checkpoints, then the peer's, each oldest first.
    pub items: Vec<CheckpointView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// This node's checkpoints (with the peer's cosignatures) and the peer's
/// checkpoints this node cosigned.
#[utoipa::path(
    tag = "jtwg",
    params(CheckpointQuery),
    responses(
        (status = 200, description = "A page of checkpoints, both logs (JSON, or CSV with the next page in a `Link` header, rel=\"next\")", content((CheckpointList = "application/json"), (String = "text/csv"))),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/jtwg/checkpoints")]
pub async fn checkpoints(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CheckpointQuery>,
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
        .map(|c| {
            c.split_once('.')
                .and_then(|(r, s)| Some((r.parse::<usize>().ok()?, s.parse::<i64>().ok()?)))
                .ok_or_else(super::invalid_cursor)
        })
        .transpose()?;
    let newest = match q.order.as_deref() {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(other) => {
            return Err(ApiError::Refused(
                ProblemCode::InvalidQuery,
                format!("order must be `oldest` or `newest`, not `{other}`"),
            ))
        }
    };
    let node = state.ctx.node;
    let origins = match q.log.as_deref() {
        None => vec![origin(node), origin(node.counterpart())],
        Some("own") => vec![origin(node)],
        Some("peer") => vec![origin(node.counterpart())],
        Some(other) => {
            return Err(ApiError::Refused(
                ProblemCode::InvalidQuery,
                format!("log must be `own` or `peer`, not `{other}`"),
            ))
        }
    };
    let (page, next) = state
        .app()
        .checkpoint_page(
            origins,
            naive(q.from),
            naive(q.to),
            after,
            newest,
            limit as usize,
        )
        .await?;
    let next_cursor = next.map(|(rank, size)| format!("{rank}.{size}"));
    let items: Vec<CheckpointView> = page
        .into_iter()
        .map(|(cp, mine)| {
            let mut note = cp.note.clone();
            for s in &mine {
                note.push_str(&s.signature);
                note.push('\n');
            }
            CheckpointView {
                origin: cp.origin,
                size: cp.size,
                root: cp.root,
                signed_at: store::utc(cp.signed_at),
                cosigned_by: mine.iter().map(|s| s.witness.clone()).collect(),
                note,
            }
        })
        .collect();
    if csv {
        let res = csv_response(
            "checkpoints",
            &["origin", "size", "root", "signed_at", "cosigned_by"],
            items
                .iter()
                .map(|c| {
                    vec![
                        c.origin.clone(),
                        c.size.to_string(),
                        c.root.clone(),
                        c.signed_at.to_rfc3339(),
                        c.cosigned_by.join(" "),
                    ]
                })
                .collect(),
        );
        return Ok(link_next(res, &req, next_cursor.as_deref()));
    }
    Ok(HttpResponse::Ok().json(CheckpointList { items, next_cursor }))
}

/// Sign a checkpoint now and have the peer cosign it.
#[utoipa::path(
    tag = "audit",
    responses(
        (status = 200, description = "The log's size and what the peer has cosigned", body = Round),
        (status = 502, description = "The peer refused or could not be reached (`witnessing_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/audit/checkpoints")]
pub async fn checkpoint_now(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageAudit)?;
    let round = state
        .witnessing
        .round()
        .await
        .map_err(|e| ApiError::Refused(ProblemCode::WitnessingFailed, e.to_string()))?;
    Ok(HttpResponse::Ok().json(round))
}

/// Whether to re-check everything.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeerCheckQuery {
    /// `true`: compare every witnessed entry and prove every receipt again
    /// (its cost grows with the log); default: only those not checked yet
    /// (the scheduled watch keeps re-checking the others, pass after pass).
    pub full: Option<bool>,
}

/// Check the peer's log against the leaf hashes witnessed here, and this
/// node's receipts against it: incrementally, or in `full`.
#[utoipa::path(
    tag = "audit",
    params(PeerCheckQuery),
    responses(
        (status = 200, description = "The verdict, with the first changed entry if any", body = PeerCheck),
        (status = 502, description = "The peer could not be reached (`witnessing_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/audit/peer-check")]
pub async fn peer_check(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<PeerCheckQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageAudit)?;
    let check = state
        .witnessing
        .check_peer(query.full.unwrap_or(false))
        .await
        .map_err(|e| ApiError::Refused(ProblemCode::WitnessingFailed, e.to_string()))?;
    Ok(HttpResponse::Ok().json(check))
}
