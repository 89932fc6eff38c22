//! The name search's blind index, inverted: one row per keyed hash of a
//! trigram of a person's names (a "gram", computed in [`super::sealed`])
//! and case. A search reads the cases holding the term's rarest gram, newest
//! first a page at a time, so its cost follows the matches, not the cases.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::schema::{case_identities, cases, name_index};
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};

/// How many cases of a gram are counted to rank the grams by rarity: a
/// gram held by this many cases or more is common, and only breaks ties.
const PROBE: i64 = 1000;

/// Adds `grams` for `case_id`, which holds none yet.
pub fn insert(conn: &mut AnyConnection, case_id: &str, grams: &[String]) -> Result<(), DbError> {
    let rows: Vec<_> = grams
        .iter()
        .map(|g| (name_index::gram.eq(g), name_index::case_id.eq(case_id)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // One statement for all the rows (the multi-backend connection does not
    // batch inserts itself).
    let insert = diesel::insert_into(name_index::table).values(rows);
    match conn {
        AnyConnection::Sqlite(c) => insert.execute(c)?,
        AnyConnection::Postgresql(c) => insert.execute(c)?,
    };
    Ok(())
}

/// Removes the grams of `case_id` (its identity was erased or removed).
pub fn remove(conn: &mut AnyConnection, case_id: &str) -> Result<(), DbError> {
    diesel::delete(name_index::table.filter(name_index::case_id.eq(case_id))).execute(conn)?;
    Ok(())
}

/// Removes every gram (the key they were made under is being replaced).
pub fn clear(conn: &mut AnyConnection) -> Result<(), DbError> {
    diesel::delete(name_index::table).execute(conn)?;
    Ok(())
}

/// The gram of `grams` held by the fewest cases (counted up to [`PROBE`]
/// each, so that the cost stays bounded however common a gram is).
pub fn rarest<'a>(
    conn: &mut AnyConnection,
    grams: &'a [String],
) -> Result<Option<&'a String>, DbError> {
    let mut best: Option<(usize, &String)> = None;
    for g in grams {
        // In key order, so that the read stops at the limit.
        let held = name_index::table
            .filter(name_index::gram.eq(g))
            .order(name_index::case_id.asc())
            .select(sql::<Integer>("1"))
            .limit(PROBE)
            .load::<i32>(conn)?
            .len();
        if best.is_none_or(|(n, _)| held < n) {
            best = Some((held, g));
        }
        if held == 0 {
            break;
        }
    }
    Ok(best.map(|(_, g)| g))
}

/// The cases holding `gram`, newest first, `limit` of them, before the case
/// `before` when given.
pub fn cases_holding(
    conn: &mut AnyConnection,
    gram: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let mut q = name_index::table
        .filter(name_index::gram.eq(gram))
        .select(name_index::case_id)
        .order(name_index::case_id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(name_index::case_id.lt(before));
    }
    Ok(q.load(conn)?)
}

/// Those of `cases` that hold every gram of `grams` (all of them when
/// `grams` is empty), in no particular order: one gram at a time, each
/// query naming one gram and the cases still in the running, so that it is
/// read through an index on both whatever the planner knows of the table.
pub fn holding_all(
    conn: &mut AnyConnection,
    cases: &[String],
    grams: &[&String],
) -> Result<Vec<String>, DbError> {
    let mut alive = cases.to_vec();
    for g in grams {
        if alive.is_empty() {
            break;
        }
        alive = name_index::table
            .filter(name_index::gram.eq(*g))
            .filter(name_index::case_id.eq_any(&alive))
            .select(name_index::case_id)
            .load(conn)?;
    }
    Ok(alive)
}

/// Most cases a name search considers.
const NAME_MATCHES: usize = 1000;

/// Cases read from the name index at a time while searching.
const NAME_PAGE: i64 = 500;

/// Ids of the cases whose person's names contain `term` (case-insensitive),
/// newest first: the blind index gives the cases holding every trigram of
/// the term, starting from its rarest, whose names are then opened and
/// compared.
pub fn cases_named(conn: &mut AnyConnection, term: &str) -> Result<Vec<String>, DbError> {
    let needle = term.trim().to_lowercase();
    let grams = sealed::term_grams(conn, &needle)?;
    let Some(rarest) = rarest(conn, &grams)? else {
        return Ok(Vec::new());
    };
    let others: Vec<&String> = grams.iter().filter(|g| *g != rarest).collect();
    let mut found = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = cases_holding(conn, rarest, before.as_deref(), NAME_PAGE)?;
        let Some(last) = page.last().cloned() else {
            return Ok(found);
        };
        let held = holding_all(conn, &page, &others)?;
        let rows: Vec<(String, String, String)> = case_identities::table
            .inner_join(cases::table)
            .filter(case_identities::case_id.eq_any(&held))
            .select((
                case_identities::case_id,
                cases::referral_id,
                case_identities::identity,
            ))
            .order(case_identities::case_id.desc())
            .load(conn)?;
        for (id, referral, stored) in rows {
            let Some(text) = sealed::open(conn, &referral, Column::Identity, &stored)? else {
                continue;
            };
            if super::cases::names_of(&text)
                .iter()
                .any(|n| n.to_lowercase().contains(&needle))
            {
                found.push(id);
                if found.len() == NAME_MATCHES {
                    return Ok(found);
                }
            }
        }
        if page.len() < NAME_PAGE as usize {
            return Ok(found);
        }
        before = Some(last);
    }
}
