//! Code lists, the caller's account, user administration, health and metrics.

use crate::domain::problem::ProblemCode;
use actix_web::{get, put, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::cases::{BodyErrors, CommonErrors};
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::domain::code_lists::{self as lists, CodeList};
use crate::domain::ids::NodeId;
use crate::domain::roles::{Permission, Role};

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
    let lang = crate::api::error::current_lang();
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

/// The types of message between the nodes, as a code list (labels for
/// the exchange log and the statistics).
fn message_types() -> CodeListView {
    use crate::domain::i18n::Lang;
    use crate::domain::message_type::MessageType;
    let lang = crate::api::error::current_lang();
    let (title_en, title_fr) = ("Message between the nodes", "Message entre les nœuds");
    CodeListView {
        id: "message_type",
        version: 1,
        title: lang.pick(title_en, title_fr),
        title_en,
        title_fr,
        entries: MessageType::ALL
            .iter()
            .map(|t| CodeEntryView {
                code: t.as_str(),
                label: t.label(lang),
                en: t.label(Lang::En),
                fr: t.label(Lang::Fr),
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
    security(("bearer" = []), ("session" = []))
)]
#[get("/code-lists")]
pub async fn code_lists(auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCodeLists)?;
    Ok(HttpResponse::Ok().json(CodeLists {
        lists: lists::CODE_LISTS
            .iter()
            .map(view)
            .chain(std::iter::once(message_types()))
            .collect(),
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
    security(("bearer" = []), ("session" = []))
)]
#[get("/code-lists/{list}")]
pub async fn code_list(auth: Auth, list: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCodeLists)?;
    if list.as_str() == "message_type" {
        return Ok(HttpResponse::Ok().json(message_types()));
    }
    let list = lists::list(&list).ok_or_else(|| {
        ApiError::Refused(ProblemCode::NotFound, format!("no code list `{list}`"))
    })?;
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
    /// The name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// The console language the user chose; absent: the browser's.
    pub language: Option<crate::domain::i18n::Lang>,
    /// This node.
    pub node: NodeId,
    /// Agency running this node.
    pub agency: String,
}

/// Who am I: the account behind the bearer token.
#[utoipa::path(
    tag = "reference",
    responses((status = 200, description = "The caller's account", body = Me), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/me")]
pub async fn me(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadOwnAccount)?;
    Ok(HttpResponse::Ok().json(account_of(&auth, &state).await?))
}

/// The caller's account as `GET /me` and the session show it.
pub(super) async fn account_of(auth: &Auth, state: &AppState) -> Result<Me, ApiError> {
    let account = state
        .app()
        .account(auth.0.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated("the account is gone"))?;
    Ok(Me {
        user_id: auth.0.user_id,
        username: account.username,
        display_name: account.display_name,
        role: account.role,
        language: account.language,
        node: state.ctx.node,
        agency: state.agency.clone(),
    })
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

/// Readiness of this replica: whether it can serve, and which of the jobs
/// that run once across the node's replicas run here.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok`.
    pub status: &'static str,
    /// This node.
    pub node: NodeId,
    /// Storage backend: `sqlite` or `postgres`.
    pub backend: &'static str,
    /// This replica's name (the `replica.name` setting or the host name
    /// and process id, with a random suffix of its start).
    pub replica: String,
    /// Whether this replica holds the dispatcher lease: it delivers the
    /// node's messages to the other node.
    pub dispatcher: bool,
    /// Whether this replica holds the timers' lease: checkpoints and
    /// cosigning, the comparison of shared cases, the deadline scan, key
    /// rotation run here.
    pub timers: bool,
}

/// Readiness: the database answers and every migration is applied; says
/// which jobs this replica runs.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Database unreachable or migrations pending (`not_ready`)", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ready().await {
        Ok(()) => HttpResponse::Ok().json(Readiness {
            status: "ok",
            node: state.ctx.node,
            backend: state.db.backend(),
            replica: state.replica.name.clone(),
            dispatcher: state.replica.holds(crate::app::leases::DISPATCHER),
            timers: state.replica.holds(crate::app::leases::TIMERS),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::of(
                ProblemCode::NotReady,
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

/// A crossing point, named in the language of the request.
#[derive(Serialize, ToSchema)]
pub struct CrossingPointView {
    /// Stable code used in handover plans.
    pub code: String,
    /// Name in the language `Accept-Language` picks.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// French name.
    pub name_fr: String,
    /// Whether plans may name it.
    pub active: bool,
}

/// Crossing points.
#[derive(Serialize, ToSchema)]
pub struct CrossingPoints {
    /// By code.
    pub items: Vec<CrossingPointView>,
}

/// The border crossing points where handovers take place.
#[utoipa::path(
    tag = "handover",
    responses((status = 200, description = "Every crossing point, active or not", body = CrossingPoints), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/crossing-points")]
pub async fn crossing_points(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCodeLists)?;
    let lang = crate::api::error::current_lang();
    let items = state
        .app()
        .crossing_points()
        .await?
        .into_iter()
        .map(|c| CrossingPointView {
            name: if lang == crate::domain::i18n::Lang::Fr {
                c.name_fr.clone()
            } else {
                c.name_en.clone()
            },
            code: c.code,
            name_en: c.name_en,
            name_fr: c.name_fr,
            active: c.active,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CrossingPoints { items }))
}

/// A crossing point as an administrator sets it.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrossingPointInput {
    /// English name: 1 to 200 characters, not all blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name_en: String,
    /// French name: 1 to 200 characters, not all blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name_fr: String,
    /// Whether plans may name it (a retired crossing stays known, inactive).
    pub active: bool,
}

/// Add or update a crossing point (administrators; both nodes must know a
/// crossing point before handover plans name it).
#[utoipa::path(
    tag = "handover",
    request_body = CrossingPointInput,
    params(("code" = String, Path, description = "Code: lower-case letters, digits and `_`, 3–40 characters", pattern = "^[a-z0-9_]{3,40}$")),
    responses(
        (status = 200, description = "Updated"),
        (status = 201, description = "Added"),
        (status = 422, description = "Invalid code or names (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[put("/crossing-points/{code}")]
pub async fn set_crossing_point(
    auth: Auth,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    code: web::Path<String>,
    body: web::Json<CrossingPointInput>,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::FieldError;
    use actix_web::HttpMessage;
    auth.require(Permission::ManageCrossingPoints)?;
    let code = code.into_inner();
    let input = body.into_inner();
    let mut errors = Vec::new();
    if !(3..=40).contains(&code.len())
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        errors.push(FieldError::new(
            "code",
            "invalid",
            "lower-case letters, digits and `_`, 3–40 characters",
        ));
    }
    for (field, name) in [("name_en", &input.name_en), ("name_fr", &input.name_fr)] {
        if name.trim().is_empty()
            || name.chars().count() > 200
            || name.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                field,
                "invalid",
                "1–200 printable characters",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let point = crate::app::directory::CrossingPoint {
        code,
        name_en: input.name_en.trim().to_owned(),
        name_fr: input.name_fr.trim().to_owned(),
        active: input.active,
    };
    let existed = state
        .app()
        .set_crossing_point(crate::api::cases::caller(&req, &auth, None), point)
        .await?;
    req.extensions_mut().insert(crate::api::audit::Audited);
    Ok(if existed {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::Created().finish()
    })
}
