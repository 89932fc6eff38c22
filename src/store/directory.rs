//! Storage of this node's side of the directory of first-line responders.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schema::{directory_organizations as orgs, directory_services as svcs};
use super::{AnyConnection, DbError};
use crate::domain::directory::{Capacity, OrganizationInput, ServiceInput};

/// An organisation with its services (HSDS-shaped).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// Id (UUID).
    pub id: String,
    /// Name.
    pub name: String,
    /// Type (code list `organization_type`).
    pub org_type: String,
    /// Country, ISO 3166-1 alpha-2 (the side of the border).
    pub country: String,
    /// Services.
    pub services: Vec<Service>,
}

/// A service with its location, contact and (shelters) capacity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Id (UUID).
    pub id: String,
    /// Name.
    pub name: String,
    /// What it offers (code list `service`).
    pub service_type: String,
    /// Where.
    pub location: Location,
    /// How to reach it.
    pub contact: Contact,
    /// Whether it is a shelter.
    pub is_shelter: bool,
    /// Places available (shelters), and when they were last updated.
    pub capacity: Option<Capacity>,
    /// When the capacity was last updated (UTC, RFC 3339).
    pub capacity_updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Location of a service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// State or région.
    pub region: Option<String>,
    /// LGA or département.
    pub district: Option<String>,
    /// Street address.
    pub address: Option<String>,
}

/// Contact of a service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Telephone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

/// Adds an organisation; returns its id.
pub fn add_organization(
    conn: &mut AnyConnection,
    input: &OrganizationInput,
    country: &str,
    now: NaiveDateTime,
) -> Result<String, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(orgs::table)
        .values((
            orgs::id.eq(&id),
            orgs::name.eq(input.name.trim()),
            orgs::org_type.eq(&input.org_type),
            orgs::country.eq(country),
            orgs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Adds a service to an organisation; `None` when there is no such organisation.
pub fn add_service(
    conn: &mut AnyConnection,
    organization: &str,
    s: &ServiceInput,
    now: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    let exists: i64 = orgs::table.find(organization).count().get_result(conn)?;
    if exists == 0 {
        return Ok(None);
    }
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(svcs::table)
        .values((
            svcs::id.eq(&id),
            svcs::organization_id.eq(organization),
            svcs::name.eq(s.name.trim()),
            svcs::service_type.eq(&s.service_type),
            svcs::region.eq(&s.region),
            svcs::district.eq(&s.district),
            svcs::address.eq(&s.address),
            svcs::phone.eq(&s.phone),
            svcs::email.eq(&s.email),
            svcs::is_shelter.eq(s.is_shelter),
            svcs::places_adults.eq(s.capacity.map(|c| i64::from(c.adults))),
            svcs::places_children.eq(s.capacity.map(|c| i64::from(c.children))),
            svcs::places_women.eq(s.capacity.map(|c| i64::from(c.women))),
            svcs::capacity_updated_at.eq(s.capacity.map(|_| now)),
            svcs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Some(id))
}

/// Updates a shelter's places available; false when there is no such shelter.
pub fn set_capacity(
    conn: &mut AnyConnection,
    service: &str,
    c: Capacity,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(svcs::table.find(service).filter(svcs::is_shelter.eq(true)))
        .set((
            svcs::places_adults.eq(Some(i64::from(c.adults))),
            svcs::places_children.eq(Some(i64::from(c.children))),
            svcs::places_women.eq(Some(i64::from(c.women))),
            svcs::capacity_updated_at.eq(Some(now)),
            svcs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

type ServiceRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<NaiveDateTime>,
);

/// Every organisation of this side with its services.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<Organization>, DbError> {
    let orgs: Vec<(String, String, String, String)> = orgs::table
        .order(orgs::name.asc())
        .select((orgs::id, orgs::name, orgs::org_type, orgs::country))
        .load(conn)?;
    let services: Vec<ServiceRow> = svcs::table
        .order(svcs::name.asc())
        .select((
            svcs::id,
            svcs::organization_id,
            svcs::name,
            svcs::service_type,
            svcs::region,
            svcs::district,
            svcs::address,
            svcs::phone,
            svcs::email,
            svcs::is_shelter,
            svcs::places_adults,
            svcs::places_children,
            svcs::places_women,
            svcs::capacity_updated_at,
        ))
        .load(conn)?;
    let places = |v: Option<i64>| v.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Ok(orgs
        .into_iter()
        .map(|(id, name, org_type, country)| Organization {
            services: services
                .iter()
                .filter(|s| s.1 == id)
                .map(|s| Service {
                    id: s.0.clone(),
                    name: s.2.clone(),
                    service_type: s.3.clone(),
                    location: Location {
                        region: s.4.clone(),
                        district: s.5.clone(),
                        address: s.6.clone(),
                    },
                    contact: Contact {
                        phone: s.7.clone(),
                        email: s.8.clone(),
                    },
                    is_shelter: s.9,
                    capacity: (s.9 && s.13.is_some()).then(|| Capacity {
                        adults: places(s.10),
                        children: places(s.11),
                        women: places(s.12),
                    }),
                    capacity_updated_at: s
                        .13
                        .map(|t| chrono::TimeZone::from_utc_datetime(&chrono::Utc, &t)),
                })
                .collect(),
            id,
            name,
            org_type,
            country,
        })
        .collect())
}
