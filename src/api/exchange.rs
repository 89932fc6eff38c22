//! What was exchanged with the other node: per case for caseworkers, and the
//! whole queue, alerts and retries for administrators.

use crate::domain::problem::ProblemCode;
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::audit;
use super::auth::Auth;
use super::cases::CommonErrors;
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::app::exchange as store;
use crate::app::exchange::{AlertRow, IncomingMessage as InboxRow, OutgoingMessage as OutboxRow};
use crate::domain::ids::{CaseId, MessageId};
use crate::domain::roles::Permission;

/// One message exchanged with the other node.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageInfo {
    /// Message id (UUIDv7).
    pub message_id: String,
    /// `outgoing` (sent by this node) or `incoming` (received from the other).
    pub direction: &'static str,
    /// Position in its direction's hash chain.
    pub seq: i64,
    /// Message type, e.g. `referral_request`, `decision`.
    pub message_type: String,
    /// The message type's label in the language `Accept-Language` picks.
    pub message_type_label: String,
    /// Outgoing: `pending` (on its way: a link failure is retried for as
    /// long as it takes), `delivered`, `rejected` (taken into the chain by
    /// the other node but not applied) or `suspended` (refused outright by
    /// the other node; an administrator must retry it).
    /// Incoming: `accepted` or `rejected`.
    pub status: String,
    /// Delivery attempts so far (outgoing).
    pub attempts: i64,
    /// Last delivery error or rejection code.
    pub last_error: Option<String>,
    /// SHA-256 of the message's canonical bytes.
    pub hash: String,
    /// When it was created (outgoing) or received (incoming).
    pub at: DateTime<Utc>,
    /// When the other node's receipt was recorded (outgoing).
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<OutboxRow> for MessageInfo {
    fn from(m: OutboxRow) -> Self {
        Self {
            message_id: m.id,
            direction: "outgoing",
            seq: m.seq,
            message_type_label: label(&m.message_type),
            message_type: m.message_type,
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            hash: m.hash,
            at: utc(m.created_at),
            settled_at: m.settled_at.map(utc),
        }
    }
}

impl From<InboxRow> for MessageInfo {
    fn from(m: InboxRow) -> Self {
        Self {
            message_id: m.id,
            direction: "incoming",
            seq: m.seq,
            message_type_label: label(&m.message_type),
            message_type: m.message_type,
            status: m.status,
            attempts: 0,
            last_error: m.code,
            hash: m.hash,
            at: utc(m.received_at),
            settled_at: None,
        }
    }
}

/// Messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// The messages, outgoing then incoming, each in chain order.
    pub items: Vec<MessageInfo>,
}

/// Messages exchanged with the other node about one case: pending,
/// delivered, rejected or suspended.
#[utoipa::path(
    tag = "exchange",
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "The case's messages", body = MessageList),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/cases/{id}/messages")]
pub async fn case_messages(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCaseMessages)?;
    let id = id.into_inner();
    let items = state
        .app()
        .case_messages(id)
        .await
        .map(|(outgoing, incoming)| {
            let mut items: Vec<MessageInfo> = outgoing.into_iter().map(Into::into).collect();
            items.extend(incoming.into_iter().map(MessageInfo::from));
            items
        })?;
    Ok(HttpResponse::Ok().json(MessageList { items }))
}

/// Query of the outgoing message list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// `pending`, `delivered`, `rejected` or `suspended`.
    #[param(schema_with = super::message_status_schema)]
    pub status: Option<String>,
    /// Most messages returned, 1 to 1000 (default 100), in chain order.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of outgoing messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// The messages, in chain order.
    pub items: Vec<MessageInfo>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Outgoing messages by status (administrators): e.g. the suspended ones.
#[utoipa::path(
    tag = "exchange",
    params(MessagesQuery),
    responses(
        (status = 200, description = "A page of outgoing messages", body = MessagePage),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/admin/messages")]
pub async fn admin_messages(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageExchange)?;
    let q = query.into_inner();
    let statuses = [
        store::status::PENDING,
        store::status::DELIVERED,
        store::status::REJECTED,
        store::status::SUSPENDED,
    ];
    if q.status.as_deref().is_some_and(|s| !statuses.contains(&s)) {
        return Err(ApiError::Refused(
            ProblemCode::InvalidQuery,
            "unknown status".into(),
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if let Some(e) = super::limit_out_of_range(limit, 1000) {
        return Err(ApiError::Validation(vec![e]));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| super::invalid_cursor()))
        .transpose()?;
    let mut rows = state
        .app()
        .outgoing(q.status, after, limit.saturating_add(1))
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(MessagePage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Result of a retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// How many suspended messages were queued again.
    pub requeued: usize,
}

/// Queue a suspended message again (administrators). Use
/// `passerelle messages retry` to retry all of them.
#[utoipa::path(
    tag = "exchange",
    params(("id" = uuid::Uuid, Path, description = "Message id (UUID)")),
    responses(
        (status = 200, description = "Queued again", body = Retried),
        (status = 404, description = "No suspended message with this id (`not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/admin/messages/{id}/retry")]
pub async fn retry_message(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageExchange)?;
    let id = id.into_inner();
    let _now = state.ctx.clock.now();
    let _principal = auth.0.clone();
    let requeued = state
        .app()
        .retry_message(super::cases::caller(&req, &auth, None), id)
        .await?;
    if requeued == 0 {
        return Err(ApiError::Refused(
            ProblemCode::NotFound,
            format!("no suspended message {id}"),
        ));
    }
    req.extensions_mut().insert(audit::Audited);
    tracing::info!(message = %id, user = %auth.0.username, "suspended message queued again");
    state.wake.notify_one();
    Ok(HttpResponse::Ok().json(Retried { requeued }))
}

fn label(message_type: &str) -> String {
    crate::domain::message_type::MessageType::parse(message_type)
        .map_or(message_type, |t| t.label(crate::api::error::current_lang()))
        .to_owned()
}

/// An exchange alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alert {
    /// When it was raised.
    pub at: DateTime<Utc>,
    /// `sequence_gap`, `chain_broken`, `message_suspended`, `message_rejected`…
    pub kind: String,
    /// What happened (message ids and sequence numbers, never personal data).
    pub detail: String,
}

/// A page of alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    pub items: Vec<Alert>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of the alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Alerts per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Problems with the exchange that need an administrator (newest first), a
/// page at a time.
#[utoipa::path(
    tag = "exchange",
    params(AlertsQuery),
    responses(
        (status = 200, description = "A page of alerts", body = AlertList),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/admin/alerts")]
pub async fn alerts(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<AlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageExchange)?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if let Some(e) = super::limit_out_of_range(limit, 500) {
        return Err(ApiError::Validation(vec![e]));
    }
    let before = q
        .cursor
        .map(|c| {
            uuid::Uuid::parse_str(&c)
                .map(|u| u.to_string())
                .map_err(|_| super::invalid_cursor())
        })
        .transpose()?;
    let mut rows = state.app().alerts(before, limit.saturating_add(1)).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more.then(|| rows.last().map(|a| a.id.clone())).flatten();
    Ok(HttpResponse::Ok().json(AlertList {
        next_cursor,
        items: rows
            .into_iter()
            .map(|a: AlertRow| Alert {
                at: utc(a.at),
                kind: a.kind,
                detail: a.detail,
            })
            .collect(),
    }))
}
