//! The case rows: the case itself, the person's identity block (a table of
//! its own, so that erasure is a delete), the Idempotency-Key of the request
//! that created it, and the record of its erasure. Rows in, [`Case`] out;
//! the use cases decide what to write.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cached::fixed;
use super::models::{CaseRow, IdentityRow};
use super::schema::{case_erasures, case_identities, case_keys, cases};
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::case_record::{Case, StateChange};
use crate::domain::ids::{CaseId, CaseReference, NodeId, ReferralId, UserId};
use crate::domain::lifecycle::{Side, State};

pub(crate) fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} `{value}`"))
}

pub(crate) fn parse_state(s: &str) -> Result<State, DbError> {
    State::parse(s).ok_or_else(|| corrupt("state", s))
}

pub(crate) fn parse_case_id(s: &str) -> Result<CaseId, DbError> {
    s.parse().map_err(|_| corrupt("case id", s))
}

/// How a side is stored: `outgoing` (this node sends) or `incoming`.
pub(crate) fn direction(side: Side) -> &'static str {
    match side {
        Side::Sending => "outgoing",
        Side::Receiving => "incoming",
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(format!("cannot serialise: {e}")))
}

/// A case row with its sealed data set (and identity block, if loaded)
/// opened. Values whose data key is gone read as empty.
fn open_row(
    conn: &mut AnyConnection,
    mut row: CaseRow,
    identity: Option<IdentityRow>,
) -> Result<Case, DbError> {
    row.details = match sealed::open(conn, &row.referral_id, Column::Details, &row.details)? {
        Some(text) => text,
        // Its key is gone (a database restored from before a key epoch):
        // the data set reads empty.
        None => to_json(&CaseDetails::default())?,
    };
    let identity = match identity {
        Some(i) => sealed::open(conn, &row.referral_id, Column::Identity, &i.identity)?,
        None => None,
    };
    parse_row(row, identity)
}

/// The names of a stored identity block, for the name index.
pub(crate) fn names_of(identity: &str) -> Vec<String> {
    serde_json::from_str::<Identity>(identity)
        .map(|i| {
            [i.given_name, i.family_name, i.other_names]
                .into_iter()
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

fn parse_row(row: CaseRow, identity: Option<String>) -> Result<Case, DbError> {
    Ok(Case {
        id: parse_case_id(&row.id)?,
        referral_id: row
            .referral_id
            .parse()
            .map_err(|_| corrupt("referral id", &row.referral_id))?,
        reference: CaseReference::parse(&row.reference).map_err(DbError::Corrupt)?,
        side: match row.direction.as_str() {
            "outgoing" => Side::Sending,
            "incoming" => Side::Receiving,
            other => return Err(corrupt("direction", other)),
        },
        state: parse_state(&row.state)?,
        hold_from: row
            .hold_from_state
            .as_deref()
            .map(parse_state)
            .transpose()?,
        version: row.version,
        counterpart: NodeId::parse(&row.counterpart_node).map_err(DbError::Corrupt)?,
        details: serde_json::from_str(&row.details)
            .map_err(|e| DbError::Corrupt(format!("case details: {e}")))?,
        identity: identity
            .map(|i| serde_json::from_str(&i))
            .transpose()
            .map_err(|e| DbError::Corrupt(format!("identity: {e}")))?,
        created_by: row
            .created_by
            .as_deref()
            .map(|u| u.parse::<UserId>().map_err(|_| corrupt("user id", u)))
            .transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        state_changed_at: row.state_changed_at,
        due_at: row.due_at,
        closure_outcome: row.closure_outcome,
        reason_code: row.reason_code,
        erased_at: None,
    })
}

/// One case with its identity block and erasure date.
pub fn get(conn: &mut AnyConnection, id: CaseId) -> Result<Option<Case>, DbError> {
    // The case, its identity block, its erasure and its wrapped data key
    // in one statement.
    type Joined = (
        CaseRow,
        Option<IdentityRow>,
        Option<NaiveDateTime>,
        Option<(i64, String)>,
    );
    let found = super::cached::native!(conn, |c| fixed!(cases::table
        .left_join(case_identities::table)
        .left_join(case_erasures::table)
        .left_join(case_keys::table.on(case_keys::referral_id.eq(cases::referral_id)))
        .filter(cases::id.eq(id.to_string()))
        .select((
            CaseRow::as_select(),
            Option::<IdentityRow>::as_select(),
            case_erasures::erased_at.nullable(),
            (case_keys::epoch, case_keys::wrapped).nullable(),
        ))
        .limit(1))
    .get_result::<Joined>(c)
    .optional())?;
    let Some((row, identity, erased_at, key)) = found else {
        return Ok(None);
    };
    sealed::prime(&row.referral_id, key)?;
    let mut case = open_row(conn, row, identity)?;
    case.erased_at = erased_at;
    Ok(Some(case))
}

/// This node's copy of a referral without its identity block (a step the
/// other node reports needs only the state), if it has one.
pub fn by_referral_without_identity(
    conn: &mut AnyConnection,
    referral_id: ReferralId,
) -> Result<Option<Case>, DbError> {
    // The case, its erasure and its wrapped data key in one statement.
    type Joined = (CaseRow, Option<NaiveDateTime>, Option<(i64, String)>);
    let found = super::cached::native!(conn, |c| fixed!(cases::table
        .left_join(case_erasures::table)
        .left_join(case_keys::table.on(case_keys::referral_id.eq(cases::referral_id)))
        .filter(cases::referral_id.eq(referral_id.to_string()))
        .select((
            CaseRow::as_select(),
            case_erasures::erased_at.nullable(),
            (case_keys::epoch, case_keys::wrapped).nullable(),
        ))
        .limit(1))
    .get_result::<Joined>(c)
    .optional())?;
    let Some((row, erased_at, key)) = found else {
        return Ok(None);
    };
    sealed::prime(&row.referral_id, key)?;
    let mut case = open_row(conn, row, None)?;
    case.erased_at = erased_at;
    Ok(Some(case))
}

/// The id of this node's copy of a referral, if it has one.
pub fn id_by_referral(
    conn: &mut AnyConnection,
    referral_id: ReferralId,
) -> Result<Option<CaseId>, DbError> {
    let id: Option<String> = cases::table
        .filter(cases::referral_id.eq(referral_id.to_string()))
        .select(cases::id)
        .first(conn)
        .optional()?;
    id.as_deref().map(parse_case_id).transpose()
}

/// Whether a case on this node already has this reference.
pub fn reference_taken(
    conn: &mut AnyConnection,
    reference: &CaseReference,
) -> Result<bool, DbError> {
    let n: i64 = cases::table
        .filter(cases::reference.eq(reference.as_str()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Writes a new case (and its identity block, if any).
pub fn insert(conn: &mut AnyConnection, case: &Case) -> Result<(), DbError> {
    let referral = case.referral_id.to_string();
    let row = CaseRow {
        id: case.id.to_string(),
        referral_id: case.referral_id.to_string(),
        reference: case.reference.to_string(),
        direction: direction(case.side).into(),
        state: case.state.as_str().into(),
        hold_from_state: case.hold_from.map(|s| s.as_str().into()),
        version: case.version,
        counterpart_node: case.counterpart.as_str().into(),
        details: sealed::seal(conn, &referral, Column::Details, &to_json(&case.details)?)?,
        created_by: case.created_by.map(|u| u.to_string()),
        created_at: case.created_at,
        updated_at: case.updated_at,
        state_changed_at: case.state_changed_at,
        due_at: case.due_at,
        closure_outcome: case.closure_outcome.clone(),
        reason_code: case.reason_code.clone(),
    };
    super::cached::write_fixed!(
        conn,
        i64,
        diesel::insert_into(cases::table)
            .values(&row)
            .returning(cases::version)
    )?;
    match &case.identity {
        Some(identity) => add_identity(conn, case.id, &referral, identity, case.updated_at),
        None => Ok(()),
    }
}

/// The referral a case on this node is a copy of, as stored.
pub(crate) fn referral_of(conn: &mut AnyConnection, id: CaseId) -> Result<String, DbError> {
    Ok(cases::table
        .find(id.to_string())
        .select(cases::referral_id)
        .first(conn)?)
}

/// Replaces (or with `None` deletes) a case's identity block, sealed, with
/// the blind index of its names.
pub fn set_identity(
    conn: &mut AnyConnection,
    id: CaseId,
    identity: Option<&Identity>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(case_identities::table.find(id.to_string())).execute(conn)?;
    super::name_index::remove(conn, &id.to_string())?;
    match identity {
        Some(identity) => {
            let referral = referral_of(conn, id)?;
            add_identity(conn, id, &referral, identity, now)
        }
        None => Ok(()),
    }
}

/// Writes the identity block of a case that has none, sealed under its
/// referral's key, with the blind index of its names.
fn add_identity(
    conn: &mut AnyConnection,
    id: CaseId,
    referral: &str,
    identity: &Identity,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let names: Vec<&str> = [
        &identity.given_name,
        &identity.family_name,
        &identity.other_names,
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect();
    let row = IdentityRow {
        case_id: id.to_string(),
        identity: sealed::seal(conn, referral, Column::Identity, &to_json(identity)?)?,
        updated_at: now,
    };
    super::cached::write_fixed!(
        conn,
        NaiveDateTime,
        diesel::insert_into(case_identities::table)
            .values(row)
            .returning(case_identities::updated_at)
    )?;
    let grams = sealed::name_grams(conn, &names)?;
    super::name_index::insert(conn, &id.to_string(), &grams)
}

/// Replaces a case's data set if it is still at `expected` version, moving
/// it to `expected + 1`; false if it was not.
pub fn update_details(
    conn: &mut AnyConnection,
    id: CaseId,
    expected: i64,
    details: &CaseDetails,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let referral = referral_of(conn, id)?;
    let sealed = sealed::seal(conn, &referral, Column::Details, &to_json(details)?)?;
    write_details(conn, id, expected, sealed, now)
}

/// Replaces the data set of an erased case (the consent record alone, kept
/// as the trace of the legal basis) in the clear, like [`update_details`].
pub fn update_erased_details(
    conn: &mut AnyConnection,
    id: CaseId,
    expected: i64,
    details: &CaseDetails,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    write_details(conn, id, expected, to_json(details)?, now)
}

fn write_details(
    conn: &mut AnyConnection,
    id: CaseId,
    expected: i64,
    stored: String,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        cases::table
            .filter(cases::id.eq(id.to_string()))
            .filter(cases::version.eq(expected)),
    )
    .set((
        cases::details.eq(stored),
        cases::version.eq(expected + 1),
        cases::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Writes a case's new state if it is still at `expected` version, moving
/// it to `expected + 1`; false if it was not.
pub fn write_state(
    conn: &mut AnyConnection,
    id: CaseId,
    expected: i64,
    next: &StateChange,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = super::cached::native!(conn, |c| fixed!(diesel::update(
        cases::table
            .filter(cases::id.eq(id.to_string()))
            .filter(cases::version.eq(expected)),
    )
    .set((
        cases::state.eq(next.to.as_str()),
        cases::hold_from_state.eq(next.hold_from.map(State::as_str)),
        cases::version.eq(expected + 1),
        cases::updated_at.eq(now),
        cases::state_changed_at.eq(now),
        cases::due_at.eq(next.due_at),
        cases::closure_outcome.eq(next.closure_outcome.clone()),
        cases::reason_code.eq(next.reason_code.clone()),
    ))
    .returning(cases::version))
    .get_result::<i64>(c))
    .optional()?;
    Ok(n.is_some())
}

/// Moves a case from `expected` to the next version without changing its
/// state (a timeline entry of its own); false if it was not at `expected`.
pub fn bump_version(
    conn: &mut AnyConnection,
    id: CaseId,
    expected: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        cases::table
            .filter(cases::id.eq(id.to_string()))
            .filter(cases::version.eq(expected)),
    )
    .set((cases::version.eq(expected + 1), cases::updated_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// When the case's data was erased, and when the other node confirmed its own erasure.
pub fn erasure(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<(NaiveDateTime, Option<NaiveDateTime>)>, DbError> {
    Ok(super::cached::native!(conn, |c| case_erasures::table
        .find(id.to_string())
        .select((
            case_erasures::erased_at,
            case_erasures::confirmed_by_peer_at,
        ))
        .first(c)
        .optional())?)
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<State>,
    /// Restrict to these states (e.g. the handover stages for liaisons).
    pub states_in: Option<Vec<State>>,
    pub side: Option<Side>,
    pub created_from: Option<NaiveDateTime>,
    pub created_to: Option<NaiveDateTime>,
    /// `Some(true)`: only overdue; `Some(false)`: only not overdue.
    pub overdue: Option<bool>,
    /// Cursor: return cases created before this one (newest first).
    pub before: Option<CaseId>,
    pub limit: i64,
    /// Only the case with this reference (as the agencies quote it).
    pub reference: Option<String>,
    /// Only the copy of this shared referral.
    pub referral_id: Option<ReferralId>,
    /// Only cases whose person's given, family or other names contain this
    /// (case-insensitive). Callers check the role may see names.
    pub name: Option<String>,
}

/// Lists cases, newest first (ids are time-ordered UUIDv7). Identity blocks
/// are not loaded.
pub fn list(
    conn: &mut AnyConnection,
    filter: &CaseFilter,
    now: NaiveDateTime,
) -> Result<Vec<Case>, DbError> {
    let named = match &filter.name {
        Some(term) => Some(super::name_index::cases_named(conn, term)?),
        None => None,
    };
    // One query per state, each read newest first through the (state, id)
    // index and cut at the limit, then merged: over several states at once,
    // PostgreSQL walks every case in id order and filters by state.
    let states: Vec<Option<State>> = match (&filter.states_in, filter.state) {
        (Some(set), one) => set
            .iter()
            .filter(|s| one.is_none_or(|o| o == **s))
            .map(|s| Some(*s))
            .collect(),
        (None, one) => vec![one],
    };
    let mut rows: Vec<CaseRow> = Vec::new();
    for state in &states {
        let mut q = cases::table.select(CaseRow::as_select()).into_boxed();
        if let Some(r) = &filter.reference {
            q = q.filter(cases::reference.eq(r.trim().to_uppercase()));
        }
        if let Some(r) = filter.referral_id {
            q = q.filter(cases::referral_id.eq(r.to_string()));
        }
        if let Some(named) = &named {
            q = q.filter(cases::id.eq_any(named));
        }
        if let Some(s) = state {
            q = q.filter(cases::state.eq(s.as_str()));
        }
        if let Some(side) = filter.side {
            q = q.filter(cases::direction.eq(direction(side)));
        }
        if let Some(from) = filter.created_from {
            q = q.filter(cases::created_at.ge(from));
        }
        if let Some(to) = filter.created_to {
            q = q.filter(cases::created_at.lt(to));
        }
        // `Case::is_overdue`, in SQL.
        let terminal: Vec<&str> = State::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .map(|s| s.as_str())
            .collect();
        match filter.overdue {
            Some(true) => {
                q = q
                    .filter(cases::due_at.lt(now))
                    .filter(cases::state.ne_all(terminal))
            }
            Some(false) => {
                q = q.filter(
                    cases::due_at
                        .is_null()
                        .or(cases::due_at.ge(now))
                        .or(cases::state.eq_any(terminal)),
                )
            }
            None => {}
        }
        if let Some(before) = filter.before {
            q = q.filter(cases::id.lt(before.to_string()));
        }
        rows.extend(
            q.order(cases::id.desc())
                .limit(filter.limit)
                .load::<CaseRow>(conn)?,
        );
    }
    if states.len() > 1 {
        rows.sort_unstable_by(|a, b| b.id.cmp(&a.id));
        rows.truncate(usize::try_from(filter.limit).unwrap_or(usize::MAX));
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let referrals: Vec<String> = rows.iter().map(|r| r.referral_id.clone()).collect();
    sealed::prefetch(conn, &referrals)?;
    // In chunks: a page may be the whole board (SQLite binds at most 32,766).
    let mut erased: std::collections::HashMap<String, NaiveDateTime> = Default::default();
    for chunk in ids.chunks(500) {
        erased.extend(
            case_erasures::table
                .filter(case_erasures::case_id.eq_any(chunk))
                .select((case_erasures::case_id, case_erasures::erased_at))
                .load::<(String, NaiveDateTime)>(conn)?,
        );
    }
    rows.into_iter()
        .map(|r| {
            let at = erased.get(&r.id).copied();
            let mut case = open_row(conn, r, None)?;
            case.erased_at = at;
            Ok(case)
        })
        .collect()
}

/// Cases past their step's time limit: `(case, referral, state, due)`,
/// terminal states included (the caller decides).
pub fn past_due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Vec<(CaseId, ReferralId, State, NaiveDateTime)>, DbError> {
    let rows: Vec<(String, String, String, NaiveDateTime)> = cases::table
        .filter(cases::due_at.lt(now))
        .select((
            cases::id,
            cases::referral_id,
            cases::state,
            cases::due_at.assume_not_null(),
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, referral, state, due)| {
            Ok((
                parse_case_id(&id)?,
                referral
                    .parse()
                    .map_err(|_| corrupt("referral id", &referral))?,
                parse_state(&state)?,
                due,
            ))
        })
        .collect()
}

/// The cases in one state: `(case, referral)`.
pub fn in_state(
    conn: &mut AnyConnection,
    state: State,
) -> Result<Vec<(CaseId, ReferralId)>, DbError> {
    let rows: Vec<(String, String)> = cases::table
        .filter(cases::state.eq(state.as_str()))
        .select((cases::id, cases::referral_id))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, referral)| {
            Ok((
                parse_case_id(&id)?,
                referral
                    .parse()
                    .map_err(|_| corrupt("referral id", &referral))?,
            ))
        })
        .collect()
}
