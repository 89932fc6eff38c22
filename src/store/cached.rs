//! Prepared statements kept for the statements every request runs.
//!
//! diesel keeps a prepared statement only for a query it can prove has one
//! shape. It never keeps an `UPDATE`, an upsert or an `IN (…)` list, and
//! several statements of every referral are one of those: each was parsed
//! and planned again at every run. [`Cached`] marks a statement safe to
//! keep; it is then kept under its SQL text, so each distinct shape (which
//! optional columns are set, how many rows) is prepared once per connection
//! and run again with new values after that. Use it only where the shapes
//! are few: every shape stays in the connection's cache.
//!
//! diesel asks the statement itself only when it is handed the statement by
//! value (`get_result`, `get_results`, `load`); `execute` hands it a
//! reference, and then diesel walks the statement and finds it unsafe. So a
//! kept `UPDATE` or `INSERT` ends in `RETURNING` and is run with
//! `get_result`.

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

/// The longest `IN (…)` list whose statement is kept: a receipt or a case
/// read asks about one or two, a review about hundreds (one shape per
/// length, so only the short ones).
pub const SHORT_LIST: usize = 8;

/// Loads `query`, an `IN` list of `list_len` values, keeping its prepared
/// form when the list is at most [`SHORT_LIST`] long.
pub fn load_list<'q, Q, U>(
    query: Q,
    list_len: usize,
    conn: &mut super::AnyConnection,
) -> QueryResult<Vec<U>>
where
    Q: diesel::query_dsl::LoadQuery<'q, super::AnyConnection, U>,
    Cached<Q>: diesel::query_dsl::LoadQuery<'q, super::AnyConnection, U>,
{
    use diesel::RunQueryDsl;
    if list_len <= SHORT_LIST {
        Cached(query).load(conn)
    } else {
        query.load(conn)
    }
}

/// Runs `query`, an `INSERT`, `UPDATE` or `DELETE` ending in `RETURNING`,
/// keeping its prepared form: how many rows it wrote. For the writes every
/// referral or case read makes (diesel would prepare an `INSERT` of a row
/// struct anew at each run through the multi-backend connection).
pub fn write<'q, Q, U>(query: Q, conn: &mut super::AnyConnection) -> QueryResult<usize>
where
    Cached<Q>: diesel::query_dsl::LoadQuery<'q, super::AnyConnection, U>,
{
    use diesel::RunQueryDsl;
    Ok(Cached(query).load::<U>(conn)?.len())
}

/// Wraps `query` so that its prepared form is kept (see the module).
pub fn cached<Q>(query: Q) -> Cached<Q> {
    Cached(query)
}
