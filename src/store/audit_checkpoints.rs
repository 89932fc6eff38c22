//! Storage of checkpoints (this node's and the peer's it witnessed), the
//! cosignatures on them and the evidence of refused ones.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{CheckpointRow, CosignatureRow, EvidenceRow};
use super::schema::{audit_checkpoints, audit_cosignatures, audit_evidence};
use super::{AnyConnection, DbError};

/// Stores a checkpoint (this node's or one of the peer's it witnessed).
pub fn insert_checkpoint(conn: &mut AnyConnection, row: &CheckpointRow) -> Result<(), DbError> {
    let exists: i64 = audit_checkpoints::table
        .find((row.origin.as_str(), row.size))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        // Two replicas may record it at once: the first is kept.
        super::insert_or_ignore!(conn, audit_checkpoints::table, row)?;
    }
    Ok(())
}

/// The latest checkpoint of `origin`.
pub fn latest_checkpoint(
    conn: &mut AnyConnection,
    origin: &str,
) -> Result<Option<CheckpointRow>, DbError> {
    Ok(audit_checkpoints::table
        .filter(audit_checkpoints::origin.eq(origin))
        .order(audit_checkpoints::size.desc())
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?)
}

/// Checkpoints of `origin` of size `min_size` or more, smallest first, at
/// most `limit`.
pub fn checkpoints_from(
    conn: &mut AnyConnection,
    origin: &str,
    min_size: i64,
    limit: i64,
) -> Result<Vec<CheckpointRow>, DbError> {
    Ok(audit_checkpoints::table
        .filter(audit_checkpoints::origin.eq(origin))
        .filter(audit_checkpoints::size.ge(min_size))
        .order(audit_checkpoints::size.asc())
        .limit(limit)
        .select(CheckpointRow::as_select())
        .load(conn)?)
}

/// Checkpoints of `origin` signed in `[from, to)` after the size `after`
/// (above it, smallest first; or with `newest`, below it, largest first),
/// at most `limit`.
pub fn checkpoints_where(
    conn: &mut AnyConnection,
    origin: &str,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    after: Option<i64>,
    newest: bool,
    limit: i64,
) -> Result<Vec<CheckpointRow>, DbError> {
    let mut q = audit_checkpoints::table
        .filter(audit_checkpoints::origin.eq(origin.to_owned()))
        .select(CheckpointRow::as_select())
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(audit_checkpoints::signed_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(audit_checkpoints::signed_at.lt(t));
    }
    q = match (after, newest) {
        (Some(a), false) => q.filter(audit_checkpoints::size.gt(a)),
        (Some(a), true) => q.filter(audit_checkpoints::size.lt(a)),
        (None, _) => q,
    };
    q = if newest {
        q.order(audit_checkpoints::size.desc())
    } else {
        q.order(audit_checkpoints::size.asc())
    };
    Ok(q.limit(limit).load(conn)?)
}

/// Cosignatures on checkpoints of `origin` with sizes in `[first, last]`.
pub fn cosignatures_between(
    conn: &mut AnyConnection,
    origin: &str,
    first: i64,
    last: i64,
) -> Result<Vec<CosignatureRow>, DbError> {
    Ok(audit_cosignatures::table
        .filter(audit_cosignatures::origin.eq(origin))
        .filter(audit_cosignatures::size.ge(first))
        .filter(audit_cosignatures::size.le(last))
        .order(audit_cosignatures::size.asc())
        .select(CosignatureRow::as_select())
        .load(conn)?)
}

/// Stores a cosignature (idempotent).
pub fn insert_cosignature(conn: &mut AnyConnection, row: &CosignatureRow) -> Result<(), DbError> {
    let exists: i64 = audit_cosignatures::table
        .find((row.origin.as_str(), row.size, row.witness.as_str()))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        // Two replicas may record it at once: the first is kept.
        super::insert_or_ignore!(conn, audit_cosignatures::table, row)?;
    }
    Ok(())
}

/// The largest size of `origin` that `witness` cosigned.
pub fn last_cosigned(
    conn: &mut AnyConnection,
    origin: &str,
    witness: &str,
) -> Result<Option<CheckpointRow>, DbError> {
    let size: Option<i64> = audit_cosignatures::table
        .filter(audit_cosignatures::origin.eq(origin))
        .filter(audit_cosignatures::witness.eq(witness))
        .select(diesel::dsl::max(audit_cosignatures::size))
        .first(conn)?;
    let Some(size) = size else { return Ok(None) };
    Ok(audit_checkpoints::table
        .find((origin, size))
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?)
}

/// Keeps a refused checkpoint as evidence.
pub fn insert_evidence(conn: &mut AnyConnection, row: &EvidenceRow) -> Result<(), DbError> {
    diesel::insert_into(audit_evidence::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Evidence kept, newest first.
pub fn evidence(conn: &mut AnyConnection, limit: i64) -> Result<Vec<EvidenceRow>, DbError> {
    Ok(audit_evidence::table
        .order(audit_evidence::received_at.desc())
        .limit(limit)
        .select(EvidenceRow::as_select())
        .load(conn)?)
}

/// The checkpoint of `origin` at `size` entries, if one was signed.
pub fn checkpoint_at(
    conn: &mut AnyConnection,
    origin: &str,
    size: u64,
) -> Result<Option<CheckpointRow>, DbError> {
    Ok(audit_checkpoints::table
        .find((origin, size as i64))
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?)
}
