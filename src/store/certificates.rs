//! The signer certificates seen on messages and receipts, kept by
//! fingerprint so that every signature can be checked later, and this
//! node's own signing certificates (current and previous).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{certificates, own_certificates};
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
        // Another replica may keep it at the same moment.
        let row = (
            certificates::fingerprint.eq(fingerprint),
            certificates::pem.eq(pem),
            certificates::first_seen.eq(now),
        );
        super::insert_or_ignore!(conn, certificates::table, row)?;
    }
    Ok(())
}

/// Every certificate kept, PEM.
pub fn all_pem(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    Ok(certificates::table.select(certificates::pem).load(conn)?)
}

/// Keeps this node's signing certificate, once.
pub fn remember_own(
    conn: &mut AnyConnection,
    fingerprint: &str,
    pem: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let known: i64 = own_certificates::table
        .filter(own_certificates::fingerprint.eq(fingerprint))
        .count()
        .get_result(conn)?;
    if known == 0 {
        // Replicas starting at once all keep it.
        let row = (
            own_certificates::fingerprint.eq(fingerprint),
            own_certificates::pem.eq(pem),
            own_certificates::first_used.eq(now),
        );
        super::insert_or_ignore!(conn, own_certificates::table, row)?;
    }
    Ok(())
}

/// This node's signing certificates other than `current` (fingerprint), oldest first, PEM.
pub fn own_previous_pem(conn: &mut AnyConnection, current: &str) -> Result<Vec<String>, DbError> {
    Ok(own_certificates::table
        .filter(own_certificates::fingerprint.ne(current))
        .order(own_certificates::first_used)
        .select(own_certificates::pem)
        .load(conn)?)
}

/// Every signing certificate of this node, oldest first, PEM.
pub fn own_all_pem(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    Ok(own_certificates::table
        .order(own_certificates::first_used)
        .select(own_certificates::pem)
        .load(conn)?)
}
