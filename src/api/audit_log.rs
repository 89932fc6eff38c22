//! `GET /api/v1/audit/entries`: this node's audit log, page by page, for the
//! JTWG and administrators. Entries carry ids, codes and digests only, never
//! a person's data, so the JTWG may read them all.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::cases::CommonErrors;
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::audit::Entry;
use crate::domain::roles::Permission;
use crate::domain::FieldError;

/// Most entries in one page.
const MAX_LIMIT: u32 = 1000;

/// Which entries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// Index of the first entry (0-based; default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// At most this many entries (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    /// The log's size when the page was read.
    pub size: u64,
    /// Entries `from` to `from + items.len() - 1`, in log order.
    pub items: Vec<Entry>,
    /// The `from` of the next page; absent when this page reaches the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_from: Option<u64>,
}

/// This node's audit log, page by page (JTWG reviewer, admin).
#[utoipa::path(
    tag = "audit",
    params(EntriesQuery),
    responses(
        (status = 200, description = "A page of the log, in order", body = EntryPage),
        (status = 422, description = "`limit` or `from` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/audit/entries")]
pub async fn entries(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReviewExchange)?;
    let limit = query.limit.unwrap_or(100);
    let mut errors: Vec<FieldError> = super::limit_out_of_range(limit, MAX_LIMIT)
        .into_iter()
        .collect();
    let from = query.from.unwrap_or(0);
    if from < 0 {
        errors.push(FieldError::new(
            "from",
            "out_of_range",
            "from is an index of the log, 0 or more",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let from = from.unsigned_abs();
    let (size, items) = state.app().audit_entries(from, u64::from(limit)).await?;
    let end = from.saturating_add(items.len() as u64);
    Ok(HttpResponse::Ok().json(EntryPage {
        size,
        next_from: (end < size).then_some(end),
        items,
    }))
}
