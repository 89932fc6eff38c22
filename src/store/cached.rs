//! Prepared statements kept for the statements every request runs.
//!
//! diesel keeps a prepared statement only for a query it can prove has one
//! shape. It never keeps an `UPDATE`, an upsert, an `IN (…)` list or (on the
//! multi-backend connection) an `INSERT` of a row struct, and several
//! statements of every referral are one of those: each was parsed and
//! planned again at every run. Two wrappers mark a statement safe to keep:
//!
//! - [`fixed!`], for a statement whose SQL text never changes (the same
//!   columns every time: no optional filter, no list, and row structs that
//!   bind `None` as `NULL` rather than leaving the column out). It is kept
//!   under a type declared where it is written, so finding it again costs
//!   nothing. Debug builds check that its text stays the same
//!   ([`check_fixed`]).
//! - [`Cached`], for a statement with a few shapes (an `IN` list of up to
//!   [`SHORT_LIST`] values): kept under its SQL text, so each shape is
//!   prepared once per connection, but finding it costs building that text
//!   at every run (a string per column name: about 7 % of a referral's CPU
//!   in a profile of the bench, before the hot statements became
//!   [`fixed!`]).
//!
//! Through the multi-backend connection ([`super::AnyConnection`]) a
//! statement's SQL text is built again at every run whatever its cache key
//! (diesel's generated wrapper writes it out in each pass over the
//! statement: a string per column name, twice per run; about a tenth of the
//! CPU of a case read in a profile). The hot statements run on the
//! backend's own connection instead ([`native!`]), where a kept statement is
//! only walked to bind its values.
//!
//! diesel asks the statement itself only when it is handed the statement by
//! value (`get_result`, `get_results`, `load`); `execute` hands it a
//! reference, and then diesel walks the statement and finds it unsafe. So a
//! kept `UPDATE` or `INSERT` ends in `RETURNING` and is run with
//! `get_result` or [`write_fixed!`].

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// A statement whose prepared form the connection keeps (see the module).
#[derive(Debug, Clone, Copy)]
pub struct Cached<Q>(pub Q);

impl<Q, DB> QueryFragment<DB> for Cached<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    /// Always: the cache key is the SQL text itself (no static query id),
    /// so a statement is never run under another's prepared form.
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Cached<Q> {}

/// A statement whose SQL text is the same at every run, kept prepared
/// under the type `M` (one per place it is written: see [`fixed!`]).
#[derive(Debug, Clone, Copy)]
pub struct Fixed<M, Q>(pub Q, pub std::marker::PhantomData<M>);

impl<M, Q, DB> QueryFragment<DB> for Fixed<M, Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
    M: 'static,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        #[cfg(debug_assertions)]
        shape::running(std::any::TypeId::of::<M>());
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<M: 'static, Q> QueryId for Fixed<M, Q> {
    type QueryId = M;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<M, Q: Query> Query for Fixed<M, Q> {
    type SqlType = Q::SqlType;
}

impl<M, Q, Conn> diesel::RunQueryDsl<Conn> for Fixed<M, Q> {}

/// Wraps a statement whose SQL text never changes (see the module) so that
/// it is kept prepared and found without building that text: a type
/// declared here names it.
macro_rules! fixed {
    ($query:expr $(,)?) => {{
        #[derive(Debug, Clone, Copy)]
        struct Site;
        $crate::store::cached::Fixed::<Site, _>($query, ::std::marker::PhantomData)
    }};
}
pub(crate) use fixed;

/// Runs `$body` with `$c` bound to the backend's own connection (see the
/// module): the body is written once and compiled for each backend.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr $(,)?) => {
        match &mut *$conn {
            $crate::store::AnyConnection::Sqlite($c) => $body,
            $crate::store::AnyConnection::Postgresql($c) => $body,
        }
    };
}
pub(crate) use native;

/// Runs `$query`, an `INSERT`, `UPDATE` or `DELETE` ending in `RETURNING`
/// a `$returning`, as a [`fixed!`] statement on the backend's own
/// connection ([`native!`]): how many rows it wrote.
macro_rules! write_fixed {
    ($conn:expr, $returning:ty, $query:expr $(,)?) => {
        $crate::store::cached::native!($conn, |c| {
            use diesel::RunQueryDsl;
            $crate::store::cached::fixed!($query)
                .load::<$returning>(c)
                .map(|rows| rows.len())
        })
    };
}
pub(crate) use write_fixed;

/// Debug builds: checks, when a [`fixed!`] statement has run, that its SQL
/// text is the one it had before (a statement kept under a type must never
/// be run with another text). Called by the connections' instrumentation.
#[cfg(debug_assertions)]
pub fn check_fixed(query: &dyn diesel::connection::DebugQuery) {
    shape::check(query)
}

#[cfg(debug_assertions)]
mod shape {
    use std::any::TypeId;
    use std::cell::Cell;
    use std::collections::HashMap;
    use std::sync::Mutex;

    thread_local! {
        /// The [`super::Fixed`] statement walked last on this thread.
        static RUNNING: Cell<Option<TypeId>> = const { Cell::new(None) };
    }
    static TEXTS: Mutex<Option<HashMap<TypeId, String>>> = Mutex::new(None);

    pub(super) fn running(id: TypeId) {
        RUNNING.with(|r| r.set(Some(id)));
    }

    pub(super) fn check(query: &dyn diesel::connection::DebugQuery) {
        let Some(id) = RUNNING.with(Cell::take) else {
            return;
        };
        let text = query.to_string();
        // Writing the text walks the statement again: only a fixed one
        // names itself.
        if RUNNING.with(Cell::take) != Some(id) {
            return;
        }
        let sql = text
            .split(" -- binds")
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut texts = TEXTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = texts
            .get_or_insert_with(HashMap::new)
            .entry(id)
            .or_insert_with(|| sql.clone());
        assert_eq!(*seen, sql, "a fixed! statement ran with another SQL text");
    }
}

/// The longest `IN (…)` list whose statement is kept: a receipt or a case
/// read asks about one or two, a review about hundreds (one shape per
/// length, so only the short ones).
pub const SHORT_LIST: usize = 8;

/// Loads `query`, an `IN` list of `list_len` values, keeping its prepared
/// form when the list is at most [`SHORT_LIST`] long.
pub fn load_list<'q, Q, U, C>(query: Q, list_len: usize, conn: &mut C) -> QueryResult<Vec<U>>
where
    C: diesel::Connection,
    Q: diesel::query_dsl::LoadQuery<'q, C, U>,
    Cached<Q>: diesel::query_dsl::LoadQuery<'q, C, U>,
{
    use diesel::RunQueryDsl;
    if list_len <= SHORT_LIST {
        Cached(query).load(conn)
    } else {
        query.load(conn)
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::Connection;
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Kept under its site's type, a statement whose text changed would
    /// run the first text with the new values: debug builds stop there.
    #[test]
    #[should_panic(expected = "another SQL text")]
    fn a_fixed_statement_whose_text_changes_is_caught() {
        let mut c = diesel::SqliteConnection::establish(":memory:").unwrap();
        c.set_instrumentation(super::super::connections::instrumentation());
        for n in [1, 2] {
            let got = fixed!(diesel::sql_query(format!("SELECT {n} AS n")))
                .load::<N>(&mut c)
                .unwrap();
            assert_eq!(got[0].n, n);
        }
    }

    #[test]
    fn a_fixed_statement_runs_again_with_new_values() {
        let mut c = diesel::SqliteConnection::establish(":memory:").unwrap();
        c.set_instrumentation(super::super::connections::instrumentation());
        for n in [1_i64, 2, 3] {
            let got =
                fixed!(diesel::sql_query("SELECT ? AS n").bind::<diesel::sql_types::BigInt, _>(n))
                    .load::<N>(&mut c)
                    .unwrap();
            assert_eq!(got[0].n, n);
        }
    }
}
