//! A case's timeline: one row per version of the case.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cases::{corrupt, parse_state, referral_of};
use super::models::EventRow;
use super::schema::case_events;
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};
use crate::domain::case_record::Event;
use crate::domain::ids::{CaseId, MessageId};
use crate::domain::lifecycle::State;

/// Appends one entry to a case's timeline (`actor_user_id` set: by a user,
/// else by the peer).
pub fn insert(conn: &mut AnyConnection, case_id: CaseId, event: &Event) -> Result<(), DbError> {
    let comment = match &event.comment {
        Some(text) => {
            let referral = referral_of(conn, case_id)?;
            Some(sealed::seal(conn, &referral, Column::Comment, text)?)
        }
        None => None,
    };
    let row = EventRow {
        id: MessageId::new().to_string(),
        case_id: case_id.to_string(),
        version: event.version,
        at: event.at,
        kind: event.kind.clone(),
        from_state: event.from_state.map(|s| s.as_str().into()),
        to_state: event.to_state.as_str().into(),
        actor_kind: event.actor_kind.clone(),
        actor_user_id: event.actor_user_id.map(|u| u.to_string()),
        actor_role: event.actor_role.clone(),
        reason_code: event.reason_code.clone(),
        outcome: event.outcome.clone(),
        comment,
    };
    super::cached::write_fixed!(
        conn,
        i64,
        diesel::insert_into(case_events::table)
            .values(row)
            .returning(case_events::version)
    )?;
    Ok(())
}

/// The timeline of a case, oldest first.
pub fn list(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Event>, DbError> {
    let rows: Vec<EventRow> = case_events::table
        .filter(case_events::case_id.eq(id.to_string()))
        .select(EventRow::as_select())
        .order(case_events::version.asc())
        .load(conn)?;
    let referral = if rows.iter().any(|r| r.comment.is_some()) {
        referral_of(conn, id)?
    } else {
        String::new()
    };
    rows.into_iter()
        .map(|r| {
            let comment = match r.comment {
                Some(c) => sealed::open(conn, &referral, Column::Comment, &c)?,
                None => None,
            };
            Ok(Event {
                version: r.version,
                at: r.at,
                kind: r.kind,
                from_state: r.from_state.as_deref().map(parse_state).transpose()?,
                to_state: parse_state(&r.to_state)?,
                actor_kind: r.actor_kind,
                actor_user_id: r
                    .actor_user_id
                    .as_deref()
                    .map(|u| u.parse().map_err(|_| corrupt("user id", u)))
                    .transpose()?,
                actor_role: r.actor_role,
                reason_code: r.reason_code,
                outcome: r.outcome,
                comment,
            })
        })
        .collect()
}

/// When the case first entered `state`.
pub fn first_entered(
    conn: &mut AnyConnection,
    id: CaseId,
    state: State,
) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(super::cached::native!(conn, |c| case_events::table
        .filter(case_events::case_id.eq(id.to_string()))
        .filter(case_events::to_state.eq(state.as_str()))
        .select(diesel::dsl::min(case_events::at))
        .first(c))?)
}
