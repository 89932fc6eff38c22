//! The name search's blind index, inverted: one row per keyed hash of a
//! trigram of a person's names (a "gram", computed in [`super::sealed`])
//! and case. A search reads the cases holding the term's two rarest grams,
//! newest first a page at a time, so its cost follows the matches, not the
//! cases.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::schema::{case_identities, cases, name_index};
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};

/// How many cases of a gram are counted to rank the grams by rarity: a
/// gram held by this many cases or more is common, and only breaks ties.
const PROBE: usize = 1000;

/// The counts tried in turn: most terms have grams held by few cases, and
/// each gram is then read no further than that.
const PROBE_STEPS: [usize; 3] = [32, 256, PROBE];

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

/// The grams of `grams`, the two held by the fewest cases first (in that
/// order), each counted no further than it can still be one of those two:
/// up to 32 cases each, then 256, then [`PROBE`], and never past the second
/// fewest found so far. The cost stays bounded however common a gram is,
/// and small when two are rare.
pub fn ranked<'a>(
    conn: &mut AnyConnection,
    grams: &'a [String],
) -> Result<Vec<&'a String>, DbError> {
    let mut counted: Vec<(usize, &String)> = Vec::with_capacity(grams.len());
    for step in PROBE_STEPS {
        counted.clear();
        // The two fewest counted exactly so far.
        let mut fewest: [Option<usize>; 2] = [None, None];
        for g in grams {
            let limit = fewest[1].map_or(step, |n| n.min(step));
            let held = holders(conn, g, limit)?;
            if held < limit {
                // Exact, and among the two fewest so far.
                fewest = match fewest[0] {
                    Some(a) if a <= held => [Some(a), Some(held)],
                    a => [Some(held), a],
                };
            }
            counted.push((held, g));
        }
        if fewest[0].is_some() || step == PROBE {
            break;
        }
    }
    // Stable: among grams counted alike, the order of `grams`.
    counted.sort_by_key(|(held, _)| *held);
    Ok(counted.into_iter().map(|(_, g)| g).collect())
}

/// How many cases hold `gram`, counted up to `limit`.
fn holders(conn: &mut AnyConnection, gram: &str, limit: usize) -> Result<usize, DbError> {
    // In key order, so that the read stops at the limit.
    Ok(name_index::table
        .filter(name_index::gram.eq(gram))
        .order(name_index::case_id.asc())
        .select(sql::<Integer>("1"))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .load::<i32>(conn)?
        .len())
}

/// The cases holding `gram` and `also` (one indexed lookup per case of
/// `gram`; the same gram twice for a term of one), newest first, `limit` of
/// them, before the case `before` when given.
pub fn cases_holding(
    conn: &mut AnyConnection,
    gram: &str,
    also: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    diesel::alias!(name_index as second: SecondGram);
    let mut q = name_index::table
        .inner_join(second.on(second.field(name_index::case_id).eq(name_index::case_id)))
        .filter(name_index::gram.eq(gram))
        .filter(second.field(name_index::gram).eq(also))
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
    let ranked = ranked(conn, &grams)?;
    let Some((rarest, others)) = ranked.split_first() else {
        return Ok(Vec::new());
    };
    // The two rarest are intersected in SQL, the others (rarest first) a
    // page at a time.
    let (second, others) = others.split_first().unwrap_or((rarest, others));
    let mut found = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = cases_holding(conn, rarest, second, before.as_deref(), NAME_PAGE)?;
        let Some(last) = page.last().cloned() else {
            return Ok(found);
        };
        let held = holding_all(conn, &page, others)?;
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
