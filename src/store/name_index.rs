//! The name search's blind index, inverted: one row per keyed hash of a
//! trigram of a person's names (a "gram", computed in [`super::sealed`])
//! and case, and per gram the number of cases holding it. A search reads
//! the cases holding the term's two rarest grams, newest first a page at a
//! time, so its cost follows the matches, not the cases.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::{case_identities, cases, name_grams, name_index};
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};

/// Adds `grams` for `case_id`, which holds none yet, and counts the case
/// among each gram's holders.
pub fn insert(conn: &mut AnyConnection, case_id: &str, grams: &[String]) -> Result<(), DbError> {
    let rows: Vec<_> = grams
        .iter()
        .map(|g| (name_index::gram.eq(g), name_index::case_id.eq(case_id)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // One statement for all the rows (the multi-backend connection does not
    // batch inserts itself), then one for the counts, from the rows just
    // written in key order (concurrent writers on PostgreSQL then lock the
    // counts in the same order).
    let insert = diesel::insert_into(name_index::table).values(rows);
    let its_grams = name_index::table
        .filter(name_index::case_id.eq(case_id))
        .select((name_index::gram, 1_i64.into_sql::<BigInt>()))
        .order(name_index::gram.asc());
    macro_rules! count_in {
        () => {
            diesel::insert_into(name_grams::table)
                .values(its_grams)
                .into_columns((name_grams::gram, name_grams::holders))
                .on_conflict(name_grams::gram)
                .do_update()
                .set(name_grams::holders.eq(name_grams::holders + 1))
        };
    }
    match conn {
        AnyConnection::Sqlite(c) => {
            insert.execute(c)?;
            count_in!().execute(c)?;
        }
        AnyConnection::Postgresql(c) => {
            insert.execute(c)?;
            count_in!().execute(c)?;
        }
    };
    Ok(())
}

/// Removes the grams of `case_id` (its identity was erased or removed), and
/// the case from each gram's count.
pub fn remove(conn: &mut AnyConnection, case_id: &str) -> Result<(), DbError> {
    let its_grams = name_index::table
        .filter(name_index::case_id.eq(case_id))
        .select(name_index::gram);
    diesel::update(name_grams::table.filter(name_grams::gram.eq_any(its_grams)))
        .set(name_grams::holders.eq(name_grams::holders - 1))
        .execute(conn)?;
    diesel::delete(name_index::table.filter(name_index::case_id.eq(case_id))).execute(conn)?;
    Ok(())
}

/// Removes every gram (the key they were made under is being replaced).
pub fn clear(conn: &mut AnyConnection) -> Result<(), DbError> {
    diesel::delete(name_index::table).execute(conn)?;
    diesel::delete(name_grams::table).execute(conn)?;
    Ok(())
}

/// The grams of `grams`, the fewest held first, each ranked by its kept
/// count: one indexed lookup per gram however many cases hold it (a term
/// has at most a hundred characters, so the list stays short). Empty when
/// a gram is held by no case: no case then holds them all.
pub fn ranked<'a>(
    conn: &mut AnyConnection,
    grams: &'a [String],
) -> Result<Vec<&'a String>, DbError> {
    let counts: HashMap<String, i64> = name_grams::table
        .filter(name_grams::gram.eq_any(grams))
        .filter(name_grams::holders.gt(0))
        .select((name_grams::gram, name_grams::holders))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let mut counted = Vec::with_capacity(grams.len());
    for g in grams {
        let Some(held) = counts.get(g) else {
            return Ok(Vec::new());
        };
        counted.push((*held, g));
    }
    // Stable: among grams held alike, the order of `grams`.
    counted.sort_by_key(|(held, _)| *held);
    Ok(counted.into_iter().map(|(_, g)| g).collect())
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
