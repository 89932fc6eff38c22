//! Code lists, the caller's account, user administration, health and metrics.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::cases::CommonErrors;
use super::AppState;
use crate::db::users::{self, User};
use crate::domain::code_lists::{self as lists, CodeList};
use crate::domain::ids::NodeId;
use crate::domain::roles::{Permission, Role};
use crate::error::{ApiError, Problem};

/// One entry of a code list, labelled in the language of the request.
#[derive(Serialize, ToSchema)]
pub struct CodeEntryView {
    /// Stable code used on the wire and in storage.
    pub code: &'static str,
    /// Label in the language `Accept-Language` picked.
    pub label: &'static str,
    /// English label.
    pub en: &'static str,
    /// French label.
    pub fr: &'static str,
}

/// A versioned code list, titled in the language of the request.
#[derive(Serialize, ToSchema)]
pub struct CodeListView {
    /// Stable identifier of the list, e.g. `exploitation_type`.
    pub id: &'static str,
    /// Version of the list; bumped on any change.
    pub version: u32,
    /// Title in the language `Accept-Language` picked.
    pub title: &'static str,
    /// English title.
    pub title_en: &'static str,
    /// French title.
    pub title_fr: &'static str,
    /// The entries, in display order.
    pub entries: Vec<CodeEntryView>,
}

fn view(list: &'static CodeList) -> CodeListView {
    let lang = crate::error::current_lang();
    CodeListView {
        id: list.id,
        version: list.version,
        title: lang.pick(list.title_en, list.title_fr),
        title_en: list.title_en,
        title_fr: list.title_fr,
        entries: list
            .entries
            .iter()
            .map(|e| CodeEntryView {
                code: e.code,
                label: lang.pick(e.en, e.fr),
                en: e.en,
                fr: e.fr,
            })
            .collect(),
    }
}

/// All code lists.
#[derive(Serialize, ToSchema)]
pub struct CodeLists {
    /// Every list with its version and bilingual entries.
    pub lists: Vec<CodeListView>,
}

/// Bilingual (English/French) code lists: stable codes, versioned lists.
#[utoipa::path(
    tag = "reference",
    responses((status = 200, description = "Every code list", body = CodeLists), CommonErrors),
    security(("bearer" = []))
)]
#[get("/code-lists")]
pub async fn code_lists(auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCodeLists)?;
    Ok(HttpResponse::Ok().json(CodeLists {
        lists: lists::CODE_LISTS.iter().map(view).collect(),
    }))
}

/// One code list.
#[utoipa::path(
    tag = "reference",
    params(("list" = String, Path, description = "List id, e.g. `exploitation_type`")),
    responses(
        (status = 200, description = "The list, labelled in the language `Accept-Language` picks (English or French)", body = CodeListView),
        (status = 404, description = "No such list (`not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[get("/code-lists/{list}")]
pub async fn code_list(auth: Auth, list: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCodeLists)?;
    let list =
        lists::list(&list).ok_or_else(|| ApiError::NotFound(format!("no code list `{list}`")))?;
    Ok(HttpResponse::Ok().json(view(list)))
}

/// The caller's account.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// Account id.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: crate::domain::ids::UserId,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// This node.
    pub node: NodeId,
    /// Agency running this node.
    pub agency: String,
}

/// Who am I: the account behind the bearer token.
#[utoipa::path(
    tag = "reference",
    responses((status = 200, description = "The caller's account", body = Me), CommonErrors),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn me(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadOwnAccount)?;
    Ok(HttpResponse::Ok().json(Me {
        user_id: auth.0.user_id,
        username: auth.0.username.clone(),
        role: auth.0.role,
        node: state.ctx.node,
        agency: state.agency.clone(),
    }))
}

/// The node's user accounts.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    /// Every account, by username.
    pub items: Vec<User>,
}

/// List the node's user accounts (administrators only). Accounts and tokens
/// are managed with `passerelle users …` and `passerelle tokens …`.
#[utoipa::path(
    tag = "admin",
    responses((status = 200, description = "Every account", body = UserList), CommonErrors),
    security(("bearer" = []))
)]
#[get("/users")]
pub async fn list_users(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ListUsers)?;
    let items = state.db.read(users::list_users).await?;
    Ok(HttpResponse::Ok().json(UserList { items }))
}

/// Health or readiness status.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok`.
    pub status: &'static str,
    /// This node.
    pub node: NodeId,
    /// Storage backend: `sqlite` or `postgres`.
    pub backend: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Status)))]
#[get("/healthz")]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok",
        node: state.ctx.node,
        backend: state.db.backend(),
    })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Database unreachable or migrations pending (`not_ready`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ready().await {
        Ok(()) => HttpResponse::Ok().json(Status {
            status: "ok",
            node: state.ctx.node,
            backend: state.db.backend(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is unreachable or migrations are pending",
            )
            .response()
        }
    }
}

/// Prometheus metrics (text exposition format). Holds no personal data.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
