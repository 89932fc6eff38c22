//! The directory of first-line responders: this node's side, kept current
//! by its supervisors and administrators, and the other side's, read live
//! from the other node over the peer channel (so shelters' places are
//! current when a handover is planned).

use crate::domain::problem::ProblemCode;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::audit;
use super::auth::Auth;
use super::cases::caller;
use super::cases::{BodyErrors, CommonErrors};
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::app::directory::Organization;
use crate::domain::directory::{Capacity, OrganizationInput, ServiceInput};
use crate::domain::roles::Permission;

/// Search of the directory.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// Words to find in organisation or service names, or places (case-insensitive).
    pub q: Option<String>,
    /// Only services of this type (code list `service`).
    pub service_type: Option<String>,
    /// Only services in this state / région.
    pub region: Option<String>,
    /// Only shelters.
    pub shelter: Option<bool>,
    /// `own` (this node's side), `peer` (the other side) or `all` (default).
    #[param(schema_with = super::side_schema)]
    pub side: Option<String>,
}

/// One side's part of the directory.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectorySide {
    /// The node whose side this is.
    pub node: String,
    /// Whether it could be read (the other node may be unreachable).
    pub reachable: bool,
    /// Organisations with their matching services.
    pub organizations: Vec<Organization>,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryResults {
    /// One entry per side searched.
    pub sides: Vec<DirectorySide>,
}

fn matches(org: &Organization, q: &DirectoryQuery) -> Organization {
    let needle = q.q.as_deref().map(str::to_lowercase);
    let hit = |s: &str| {
        needle
            .as_ref()
            .is_none_or(|n| s.to_lowercase().contains(n.as_str()))
    };
    let org_hit = hit(&org.name);
    let services = org
        .services
        .iter()
        .filter(|s| {
            (org_hit
                || hit(&s.name)
                || s.location.region.as_deref().is_some_and(hit)
                || s.location.district.as_deref().is_some_and(hit))
                && q.service_type.as_ref().is_none_or(|t| &s.service_type == t)
                && q.region.as_ref().is_none_or(|r| {
                    s.location
                        .region
                        .as_ref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(r))
                })
                && q.shelter.is_none_or(|sh| s.is_shelter == sh)
        })
        .cloned()
        .collect();
    Organization {
        services,
        ..org.clone()
    }
}

fn filter(orgs: Vec<Organization>, q: &DirectoryQuery) -> Vec<Organization> {
    let plain = q.service_type.is_none() && q.region.is_none() && q.shelter.is_none();
    orgs.iter()
        .map(|o| matches(o, q))
        .filter(|o| {
            !o.services.is_empty()
                || (plain
                    && q.q
                        .as_deref()
                        .is_none_or(|n| o.name.to_lowercase().contains(&n.to_lowercase())))
        })
        .collect()
}

/// Search the directory of first-line responders on both sides of the border.
#[utoipa::path(
    tag = "directory",
    params(DirectoryQuery),
    responses((status = 200, description = "Matching organisations and services, per side", body = DirectoryResults), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/directory")]
pub async fn search(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadDirectory)?;
    let q = query.into_inner();
    let side = q.side.clone().unwrap_or_else(|| "all".into());
    if !["own", "peer", "all"].contains(&side.as_str()) {
        return Err(ApiError::Refused(
            ProblemCode::InvalidQuery,
            "side must be `own`, `peer` or `all`".into(),
        ));
    }
    let mut sides = Vec::new();
    if side != "peer" {
        let own = state.app().directory().await?;
        sides.push(DirectorySide {
            node: state.ctx.node.as_str().into(),
            reachable: true,
            organizations: filter(own, &q),
        });
    }
    if side != "own" {
        let peer = state
            .witnessing
            .client
            .get::<Vec<Organization>>("/peer/v1/directory")
            .await;
        sides.push(DirectorySide {
            node: state.ctx.node.counterpart().as_str().into(),
            reachable: peer.is_ok(),
            organizations: peer.map(|(o, _)| filter(o, &q)).unwrap_or_default(),
        });
    }
    Ok(HttpResponse::Ok().json(DirectoryResults { sides }))
}

/// Created.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// Id of the new entry.
    pub id: String,
}

/// Marks the request audited (its use case wrote the caller's entry).
fn audited<T>(req: &HttpRequest, out: T) -> T {
    audit::mark_audited(req);
    out
}

/// Add an organisation on this node's side.
#[utoipa::path(
    tag = "directory",
    request_body = OrganizationInput,
    responses(
        (status = 201, description = "Added", body = Created),
        (status = 422, description = "Invalid (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/directory/organizations")]
pub async fn add_organization(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<OrganizationInput>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageDirectory)?;
    let input = body.into_inner();
    input.check().map_err(ApiError::Validation)?;
    let id = state
        .app()
        .add_organization(caller(&req, &auth, None), input)
        .await?;
    let id = audited(&req, id);
    Ok(HttpResponse::Created().json(Created { id }))
}

/// Add a service (with its location, contact and, for a shelter, capacity).
#[utoipa::path(
    tag = "directory",
    request_body = ServiceInput,
    params(("id" = uuid::Uuid, Path, description = "Organisation id")),
    responses(
        (status = 201, description = "Added", body = Created),
        (status = 404, description = "No such organisation (`directory_entry_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/directory/organizations/{id}/services")]
pub async fn add_service(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ServiceInput>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageDirectory)?;
    let input = body.into_inner();
    input.check().map_err(ApiError::Validation)?;
    let org = id.into_inner();
    let id = state
        .app()
        .add_service(caller(&req, &auth, None), org, input)
        .await?;
    let id = audited(&req, id).ok_or_else(|| {
        ApiError::Refused(
            ProblemCode::DirectoryEntryNotFound,
            "no such organisation".into(),
        )
    })?;
    Ok(HttpResponse::Created().json(Created { id }))
}

/// Update a shelter's places available (keep it current: the other side
/// reads it when planning a handover).
#[utoipa::path(
    tag = "directory",
    request_body = Capacity,
    params(("id" = uuid::Uuid, Path, description = "Service id")),
    responses(
        (status = 204, description = "Updated"),
        (status = 404, description = "No such shelter (`directory_entry_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[put("/directory/services/{id}/capacity")]
pub async fn set_capacity(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Capacity>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageDirectory)?;
    let capacity = body.into_inner();
    let svc = id.into_inner();
    let found = state
        .app()
        .set_capacity(caller(&req, &auth, None), svc, capacity)
        .await?;
    let found = audited(&req, found);
    if !found {
        return Err(ApiError::Refused(
            ProblemCode::DirectoryEntryNotFound,
            "no such shelter".into(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}
