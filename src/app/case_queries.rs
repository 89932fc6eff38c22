//! Finding cases: the filtered, paginated list, the search by name, and
//! a case's timeline.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cases::*;
use crate::domain::case::Identity;
use crate::domain::ids::{CaseId, ReferralId};
use crate::domain::lifecycle::{Side, State};
use crate::store::models::{CaseRow, EventRow};
use crate::store::schema::{case_events, case_identities, cases};
use crate::store::{AnyConnection, DbError};

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

/// Most cases a name search considers.
pub(super) const NAME_MATCHES: usize = 1000;

/// Ids of the cases whose person's names contain `term` (case-insensitive).
pub(super) fn cases_named(conn: &mut AnyConnection, term: &str) -> Result<Vec<String>, CaseError> {
    diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
    let needle = term.trim().to_lowercase();
    // A coarse filter in SQL (the identity block is JSON text), then the
    // names themselves, so that keys or other fields never match.
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows: Vec<(String, String)> = case_identities::table
        .filter(lower(case_identities::identity).like(pattern).escape('\\'))
        .select((case_identities::case_id, case_identities::identity))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, json)| {
            serde_json::from_str::<Identity>(json).is_ok_and(|i| {
                [i.given_name, i.family_name, i.other_names]
                    .into_iter()
                    .flatten()
                    .any(|n| n.to_lowercase().contains(&needle))
            })
        })
        .map(|(id, _)| id)
        .take(NAME_MATCHES)
        .collect())
}

/// Lists cases, newest first (ids are time-ordered UUIDv7). Identity blocks
/// are not loaded.
pub fn list(
    conn: &mut AnyConnection,
    filter: &CaseFilter,
    now: NaiveDateTime,
) -> Result<Vec<Case>, CaseError> {
    let mut q = cases::table.select(CaseRow::as_select()).into_boxed();
    if let Some(r) = &filter.reference {
        q = q.filter(cases::reference.eq(r.trim().to_uppercase()));
    }
    if let Some(r) = filter.referral_id {
        q = q.filter(cases::referral_id.eq(r.to_string()));
    }
    if let Some(term) = &filter.name {
        q = q.filter(cases::id.eq_any(cases_named(conn, term)?));
    }
    if let Some(s) = filter.state {
        q = q.filter(cases::state.eq(s.as_str()));
    }
    if let Some(states) = &filter.states_in {
        q = q.filter(cases::state.eq_any(states.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
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
    let rows: Vec<CaseRow> = q.order(cases::id.desc()).limit(filter.limit).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let erased: std::collections::HashMap<String, NaiveDateTime> = {
        use crate::store::schema::case_erasures;
        case_erasures::table
            .filter(case_erasures::case_id.eq_any(&ids))
            .select((case_erasures::case_id, case_erasures::erased_at))
            .load::<(String, NaiveDateTime)>(conn)?
            .into_iter()
            .collect()
    };
    rows.into_iter()
        .map(|r| {
            let at = erased.get(&r.id).copied();
            let mut case = parse_row(r, None)?;
            case.erased_at = at;
            Ok(case)
        })
        .collect()
}

/// The timeline of a case, oldest first.
pub fn events(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Event>, CaseError> {
    let rows: Vec<EventRow> = case_events::table
        .filter(case_events::case_id.eq(id.to_string()))
        .select(EventRow::as_select())
        .order(case_events::version.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
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
                comment: r.comment,
            })
        })
        .collect::<Result<_, DbError>>()
        .map_err(CaseError::from)
}
