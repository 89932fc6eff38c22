//! Rows that replicas, or two requests, may insert at once.

/// `INSERT … ON CONFLICT DO NOTHING` of `$values` into `$table` on either
/// backend (the multi-backend connection cannot build it): the rows
/// inserted. For rows that replicas, or two requests, may insert at once.
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {
        match $conn {
            $crate::store::AnyConnection::Sqlite(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
            $crate::store::AnyConnection::Postgresql(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
        }
    };
}
pub(crate) use insert_or_ignore;
