//! The monthly rollup of the JTWG's statistics: cells of counts by month,
//! metric, key and duration bucket, changed by ±1 as cases move and
//! messages are logged (see [`crate::domain::statistics`]).

use std::cell::RefCell;
use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::upsert::excluded;

use super::cached::fixed;
use super::schema::{statistics_cells, statistics_rollup};
use super::{AnyConnection, DbError};
use crate::domain::statistics::{Cell, Metric};

thread_local! {
    /// The changes the transaction under way on this thread made to the
    /// rollup, written when it commits (see [`deferred`]).
    static PENDING: RefCell<Vec<Cell>> = const { RefCell::new(Vec::new()) };
}

/// Adds each cell's count to the rollup's (a new cell starts at zero) when
/// the transaction under way commits: the rollup's rows are the last a
/// transaction writes, in one order, so that concurrent writers on
/// PostgreSQL never wait for each other's counters in a cycle (a
/// deadlock) however their other writes interleave.
pub fn add(cells: &[Cell]) {
    PENDING.with(|p| p.borrow_mut().extend_from_slice(cells));
}

/// How many changes are pending: where a savepoint starts.
pub(crate) fn pending() -> usize {
    PENDING.with(|p| p.borrow().len())
}

/// Forgets the changes made since `mark` (their savepoint rolled back).
pub(crate) fn discard_from(mark: usize) {
    PENDING.with(|p| p.borrow_mut().truncate(mark));
}

/// Runs `f`, then writes the rollup changes it made (summed by cell, in
/// the cells' order); what it changed is forgotten if it fails.
pub(crate) fn deferred<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError>,
{
    discard_from(0);
    let out = f(conn);
    let cells = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let out = out?;
    write(conn, cells)?;
    Ok(out)
}

/// Writes the rollup changes pending on this thread (summed by cell, in
/// the cells' order): a group commit's, once for all its requests.
pub(crate) fn write_pending(conn: &mut AnyConnection) -> Result<(), DbError> {
    let cells = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    write(conn, cells)
}

fn write(conn: &mut AnyConnection, cells: Vec<Cell>) -> Result<(), DbError> {
    let mut sums: BTreeMap<(String, &'static str, String, i64), i64> = BTreeMap::new();
    for c in cells {
        *sums
            .entry((c.month, c.metric.as_str(), c.key, c.bucket))
            .or_insert(0) += c.count;
    }
    let rows: Vec<_> = sums
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((month, metric, key, bucket), count)| {
            (
                statistics_cells::month.eq(month),
                statistics_cells::metric.eq(metric),
                statistics_cells::key.eq(key),
                statistics_cells::bucket.eq(bucket),
                statistics_cells::count.eq(count),
            )
        })
        .collect();
    // Adds each row's count to its cell (a new cell starts at it).
    macro_rules! add_to_cells {
        ($values:expr) => {
            diesel::insert_into(statistics_cells::table)
                .values($values)
                .on_conflict((
                    statistics_cells::month,
                    statistics_cells::metric,
                    statistics_cells::key,
                    statistics_cells::bucket,
                ))
                .do_update()
                .set(
                    statistics_cells::count
                        .eq(statistics_cells::count + excluded(statistics_cells::count)),
                )
        };
    }
    match conn {
        // One kept statement run per cell: on SQLite that costs less than
        // parsing a multi-row upsert at every commit.
        AnyConnection::Sqlite(c) => {
            for row in rows {
                fixed!(add_to_cells!(row).returning(statistics_cells::count))
                    .get_result::<i64>(c)?;
            }
        }
        // A bounded number of rows per statement (a rebuild writes thousands).
        AnyConnection::Postgresql(c) => {
            for batch in rows.chunks(1000) {
                add_to_cells!(batch).execute(c)?;
            }
        }
    }
    Ok(())
}

/// The cells of the months `[first, end)` (`YYYY-MM`; unbounded where
/// `None`), counts of zero left out.
pub fn months(
    conn: &mut AnyConnection,
    first: Option<&str>,
    end: Option<&str>,
) -> Result<Vec<Cell>, DbError> {
    let mut q = statistics_cells::table
        .filter(statistics_cells::count.ne(0))
        .select((
            statistics_cells::month,
            statistics_cells::metric,
            statistics_cells::key,
            statistics_cells::bucket,
            statistics_cells::count,
        ))
        .into_boxed();
    if let Some(f) = first {
        q = q.filter(statistics_cells::month.ge(f));
    }
    if let Some(e) = end {
        q = q.filter(statistics_cells::month.lt(e));
    }
    let rows: Vec<(String, String, String, i64, i64)> = q.load(conn)?;
    rows.into_iter()
        .map(|(month, metric, key, bucket, count)| {
            let metric = Metric::parse(&metric)
                .ok_or_else(|| DbError::Corrupt(format!("statistics metric {metric}")))?;
            Ok(Cell {
                month,
                metric,
                key,
                bucket,
                count,
            })
        })
        .collect()
}

/// Whether the rollup holds all the history.
pub fn built(conn: &mut AnyConnection) -> Result<bool, DbError> {
    Ok(statistics_rollup::table
        .find(1_i64)
        .select(statistics_rollup::built)
        .first(conn)?)
}

/// Empties the rollup (before it is rebuilt), marking it not built.
pub fn clear(conn: &mut AnyConnection) -> Result<(), DbError> {
    diesel::delete(statistics_cells::table).execute(conn)?;
    set_built(conn, false)
}

/// Marks the rollup as holding all the history, or not.
pub fn set_built(conn: &mut AnyConnection, built: bool) -> Result<(), DbError> {
    diesel::update(statistics_rollup::table.find(1_i64))
        .set(statistics_rollup::built.eq(built))
        .execute(conn)?;
    Ok(())
}
