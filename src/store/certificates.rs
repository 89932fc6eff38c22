//! The signer certificates seen on messages and receipts, kept by
//! fingerprint so that every signature can be checked later.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::certificates;
use super::{AnyConnection, DbError};

/// Keeps a signer certificate, once.
pub fn remember(
    conn: &mut AnyConnection,
    fingerprint: &str,
    pem: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let known: i64 = certificates::table
        .filter(certificates::fingerprint.eq(fingerprint))
        .count()
        .get_result(conn)?;
    if known == 0 {
        diesel::insert_into(certificates::table)
            .values((
                certificates::fingerprint.eq(fingerprint),
                certificates::pem.eq(pem),
                certificates::first_seen.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Every certificate kept, PEM.
pub fn all_pem(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    Ok(certificates::table.select(certificates::pem).load(conn)?)
}
