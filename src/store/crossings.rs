//! Border crossing points: data the administrators keep current.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schema::crossing_points as cp;
use super::{AnyConnection, DbError};

/// A crossing point.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CrossingPoint {
    /// Stable code used in handover plans.
    pub code: String,
    /// English name.
    pub name_en: String,
    /// French name.
    pub name_fr: String,
    /// Whether plans may name it.
    pub active: bool,
}

/// Codes of the active crossing points.
pub fn active_codes(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    Ok(cp::table
        .filter(cp::active.eq(true))
        .select(cp::code)
        .load(conn)?)
}

/// Every crossing point, by code.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<CrossingPoint>, DbError> {
    let rows: Vec<(String, String, String, bool)> = cp::table
        .order(cp::code.asc())
        .select((cp::code, cp::name_en, cp::name_fr, cp::active))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(code, name_en, name_fr, active)| CrossingPoint {
            code,
            name_en,
            name_fr,
            active,
        })
        .collect())
}

/// Adds a crossing point or updates one (names, active); false if the code
/// was new and is now added, true if it existed.
pub fn upsert(
    conn: &mut AnyConnection,
    p: &CrossingPoint,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let existed: i64 = cp::table.find(&p.code).count().get_result(conn)?;
    if existed > 0 {
        diesel::update(cp::table.find(&p.code))
            .set((
                cp::name_en.eq(&p.name_en),
                cp::name_fr.eq(&p.name_fr),
                cp::active.eq(p.active),
                cp::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(cp::table)
            .values((
                cp::code.eq(&p.code),
                cp::name_en.eq(&p.name_en),
                cp::name_fr.eq(&p.name_fr),
                cp::active.eq(p.active),
                cp::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(existed > 0)
}
