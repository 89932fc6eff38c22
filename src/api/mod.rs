//! The caseworker HTTP API (`/api/v1`), its extractor configuration and
//! its OpenAPI document. Routes and the spec come from one registration
//! ([`configure`]), so an undocumented route cannot exist.

pub mod accept_language;
pub mod audit;
pub mod audit_log;
pub mod audit_watch;
pub mod auth;
pub mod case_reports;
pub mod case_views;
pub mod cases;
pub mod checkpoints;
pub mod consent;
pub mod console;
pub mod convergence;
pub mod csv;
pub mod directory;
pub mod error;
pub mod exchange;
pub mod handovers;
pub mod jtwg;

/// Middleware: answers in the language `Accept-Language` picks (English or
/// French) and says which in `Content-Language`.
pub async fn language(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let lang = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(accept_language::preferred)
        .unwrap_or_default();
    let mut res = crate::api::error::LANG.scope(lang, next.call(req)).await?;
    res.headers_mut().insert(
        actix_web::http::header::CONTENT_LANGUAGE,
        actix_web::http::header::HeaderValue::from_static(lang.as_str()),
    );
    res.headers_mut().append(
        actix_web::http::header::VARY,
        actix_web::http::header::HeaderValue::from_static("Accept-Language"),
    );
    Ok(res)
}
pub mod meta;
pub mod session;
pub mod users;

use crate::domain::problem::ProblemCode;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, App, HttpRequest};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};

use crate::api::error::ApiError;
use crate::app::NodeCtx;
use crate::store::Db;
use crate::telemetry::Metrics;

/// Shared state of the API handlers.
pub struct AppState {
    pub db: Db,
    /// This node: id, SOP time limits, signing keys.
    pub ctx: std::sync::Arc<NodeCtx>,
    pub agency: String,
    pub metrics: Metrics,
    /// Wakes the dispatcher when a change queued a message for the peer.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
    /// Checkpoints and cosigning with the peer.
    pub witnessing: crate::peer::witness::Witnessing,
    /// Audit settings (statistics suppression threshold).
    pub audit: crate::config::AuditSettings,
    /// PEM of the certificate whose key signs this node's checkpoints.
    pub signer_certificate: String,
    /// Months after the start of monitoring when follow-ups are due.
    pub follow_up_months: Vec<u32>,
    /// Comparisons of the shared cases with the peer.
    pub convergence: crate::peer::convergence::Convergence,
    /// How long console sessions live.
    pub session_limits: crate::app::sign_in::SessionLimits,
    /// This process among the node's replicas: which leases it holds.
    pub replica: crate::replica::Replica,
}

impl AppState {
    /// The use cases, over this node's database.
    pub fn app(&self) -> crate::app::service::App {
        crate::app::service::App::new(self.db.clone(), self.ctx.clone())
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Passerelle node API",
        description = "Caseworker API of one Passerelle node (ANLTP/TIM Niamey or NAPTIP Abuja): \
                       referral cases, their lifecycle and timeline, bilingual code lists. \
                       Every error is `application/problem+json` with a stable `code`.",
        license(name = "AGPL-3.0-only")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "cases", description = "Referral cases and their lifecycle"),
        (name = "reference", description = "Code lists and the caller's account"),
        (name = "admin", description = "Node administration"),
        (name = "exchange", description = "Messages exchanged with the other node"),
        (name = "handover", description = "The handover at the border: plan, negotiation, the liaisons' board"),
        (name = "repatriation", description = "Repatriation reports and reintegration follow-ups"),
        (name = "directory", description = "First-line responders on both sides, with shelters' capacity"),
        (name = "jtwg", description = "The JTWG's review: exchange log, checkpoints, reconciliation, statistics (no personal data)"),
        (name = "audit", description = "The tamper-evident audit log: checkpoints and cross-witnessing"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "session", description = "Signing in to the console: the session cookie, signing out, the caller's password")
    ),
    components(schemas(
        crate::api::error::Problem,
        crate::domain::FieldError,
        crate::domain::message_type::MessageType
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "API token issued with `passerelle tokens issue` (`psl_…`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                session::COOKIE,
                "The console's session (`POST /api/v1/session` signs in): an HttpOnly, Secure, \
                 SameSite=Strict cookie. Every request that changes something also sends the \
                 session's CSRF token in the `X-CSRF-Token` header.",
            ))),
        );
    }
}

/// Methods the spec documents for each path template, split in segments.
fn routes() -> &'static [(Vec<String>, Vec<String>)] {
    static ROUTES: std::sync::OnceLock<Vec<(Vec<String>, Vec<String>)>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| matches!(m.as_str(), "get" | "put" | "post" | "delete" | "patch"))
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                (template.split('/').map(str::to_owned).collect(), methods)
            })
            .collect()
    })
}

/// What answers a request no route took: 405 with `Allow` when the path is
/// known with other methods, else 404 — both problem documents.
pub async fn unrouted(req: HttpRequest) -> actix_web::HttpResponse {
    let segments: Vec<&str> = req.path().trim_end_matches('/').split('/').collect();
    let allowed = routes().iter().find(|(template, _)| {
        template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    });
    let err = match allowed {
        Some((_, methods)) => {
            let mut res =
                actix_web::ResponseError::error_response(&crate::api::error::ApiError::Refused(
                    ProblemCode::MethodNotAllowed,
                    format!(
                        "{} is not allowed here; allowed: {}",
                        req.method(),
                        methods.join(", ")
                    ),
                ));
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&methods.join(", ")) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            return res;
        }
        None => {
            crate::api::error::ApiError::Refused(ProblemCode::NotFound, "no such resource".into())
        }
    };
    actix_web::ResponseError::error_response(&err)
}

/// A query value that is an RFC 3339 instant or a plain date (its midnight UTC).
pub(crate) fn date_or_instant<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    let Some(s) = <Option<String> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&s) {
        return Ok(Some(t.with_timezone(&chrono::Utc)));
    }
    chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .map(|d| Some(d.and_time(chrono::NaiveTime::MIN).and_utc()))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{s}` is neither an RFC 3339 instant nor a date (YYYY-MM-DD)"
            ))
        })
}

/// A string schema limited to `values` (for query parameters kept as text).
pub(crate) fn string_enum(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

pub(crate) fn direction_schema() -> utoipa::openapi::Object {
    string_enum(&["outgoing", "incoming"])
}

pub(crate) fn format_schema() -> utoipa::openapi::Object {
    string_enum(&["json", "csv"])
}

pub(crate) fn message_status_schema() -> utoipa::openapi::Object {
    string_enum(&["pending", "delivered", "rejected", "suspended"])
}

pub(crate) fn side_schema() -> utoipa::openapi::Object {
    string_enum(&["own", "peer", "all"])
}

/// A page size (`limit`) outside `1..=max`, as the field error every list
/// answers with (422 `validation_failed`).
/// The refusal of a pagination cursor this server did not issue.
pub(crate) fn invalid_cursor() -> error::ApiError {
    error::ApiError::Refused(
        ProblemCode::InvalidCursor,
        "the cursor is not one this server issued".into(),
    )
}

pub(crate) fn limit_out_of_range<T>(limit: T, max: T) -> Option<crate::domain::FieldError>
where
    T: PartialOrd + From<u8> + std::fmt::Display,
{
    (limit < T::from(1) || limit > max).then(|| {
        crate::domain::FieldError::new(
            "limit",
            "out_of_range",
            format!("limit must be between 1 and {max}"),
        )
    })
}

/// A stored (naive, UTC) timestamp as an RFC 3339 UTC instant.
pub(crate) fn utc(n: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::TimeZone::from_utc_datetime(&chrono::Utc, &n)
}

/// Registers every route (and so every path of the spec).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(meta::healthz)
        .service(meta::readyz)
        .service(meta::metrics)
        .service(
            scope::scope("/api/v1")
                .service(meta::code_lists)
                .service(meta::code_list)
                .service(meta::crossing_points)
                .service(meta::set_crossing_point)
                .service(meta::me)
                .service(session::sign_in)
                .service(session::current)
                .service(session::sign_out)
                .service(session::sign_out_everywhere)
                .service(session::change_password)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::change_user)
                .service(users::reset_password)
                .service(users::revoke_credentials)
                .service(users::set_language)
                .service(cases::create_case)
                .service(cases::list_cases)
                .service(cases::get_case)
                .service(cases::update_case)
                .service(cases::transition_case)
                .service(cases::case_events)
                .service(consent::withdraw_consent)
                .service(handovers::counter_propose_handover)
                .service(handovers::accept_handover)
                .service(handovers::handover_board)
                .service(case_reports::report_repatriation)
                .service(case_reports::report_follow_up)
                .service(case_reports::case_reports)
                .service(directory::search)
                .service(directory::add_organization)
                .service(directory::add_service)
                .service(directory::set_capacity)
                .service(exchange::case_messages)
                .service(exchange::admin_messages)
                .service(exchange::retry_message)
                .service(exchange::alerts)
                .service(convergence::list)
                .service(convergence::compare_now)
                .service(convergence::decide)
                .service(jtwg::exchange_log)
                .service(checkpoints::checkpoints)
                .service(jtwg::reconciliation)
                .service(jtwg::statistics)
                .service(checkpoints::checkpoint_now)
                .service(checkpoints::peer_check)
                .service(audit_watch::watch)
                .service(audit_watch::acknowledge)
                .service(audit_log::entries),
        );
}

/// The OpenAPI document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    api
}

/// The spec as pretty JSON, as checked in at `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

/// Extractor configuration: size limits, strict content types, and problem
/// documents for every extractor failure.
pub fn extractor_config(body_limit: usize) -> (web::JsonConfig, web::PathConfig, web::QueryConfig) {
    let json = web::JsonConfig::default()
        .limit(body_limit)
        .content_type_required(true)
        .error_handler(move |err, _req: &HttpRequest| json_error(err, body_limit).into());
    let path = web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::Refused(ProblemCode::InvalidPathParameter, err.to_string()).into()
    });
    let query = web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::Refused(ProblemCode::InvalidQuery, err.to_string()).into()
    });
    (json, path, query)
}

/// The problem for a JSON extractor failure.
pub fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge(limit)
        }
        JsonPayloadError::ContentType => ApiError::Refused(
            ProblemCode::UnsupportedMediaType,
            "the request body must be `application/json`".into(),
        ),
        JsonPayloadError::Deserialize(e) => {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => ApiError::Refused(
                    ProblemCode::MalformedJson,
                    format!("the body is not valid JSON: {e}"),
                ),
                Category::Data if e.to_string().starts_with("unknown field") => {
                    ApiError::Refused(ProblemCode::UnknownField, e.to_string())
                }
                Category::Data => ApiError::Refused(ProblemCode::InvalidBody, e.to_string()),
            }
        }
        other => ApiError::Refused(ProblemCode::InvalidBody, other.to_string()),
    }
}
