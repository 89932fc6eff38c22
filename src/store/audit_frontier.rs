//! The right edge of this node's own Merkle tree, kept in memory by the
//! SQLite writer thread so that an append need not read the left siblings
//! of the subtrees it completes (one read per append on average, four per
//! referral).
//!
//! For the next leaf index `n`, the edge holds at each level `l` the node
//! `(l, (n >> l) - 1)` when `n >> l` is odd: the left sibling that the
//! append of leaf `n` (or a later one) combines with. It is only trusted for
//! the index it was computed for, and only on the thread that keeps it:
//! - any rollback on that thread forgets it (the connections' instrumentation
//!   calls [`forget`]), since the leaves it came from may be gone;
//! - an append whose index is not the one it expects (a write by another
//!   thread, a rollback) reads the edge again from the stored nodes.

use std::cell::RefCell;

use super::audit::{stored_node, Tree};
use super::{AnyConnection, DbError};
use crate::audit::merkle::Hash;

/// Levels of a tree of up to 2^64 leaves.
const LEVELS: usize = 64;

struct Edge {
    /// The leaf index the edge is for.
    next: u64,
    left: [Option<Hash>; LEVELS],
}

thread_local! {
    /// `None` on a thread that does not keep the edge; `Some(None)` until
    /// it is known.
    static EDGE: RefCell<Option<Option<Edge>>> = const { RefCell::new(None) };
}

/// Keeps the edge on this thread from now on (the SQLite writer thread,
/// which runs every write of its node).
pub(crate) fn keep_on_this_thread() {
    EDGE.with(|e| *e.borrow_mut() = Some(None));
}

/// Forgets the edge kept on this thread (a transaction or savepoint was
/// rolled back).
pub(crate) fn forget() {
    EDGE.with(|e| {
        if let Some(kept) = e.borrow_mut().as_mut() {
            *kept = None;
        }
    });
}

/// The left siblings the append of leaf `index` combines with, lowest level
/// first: from the kept edge when it is for `index`, else from the stored
/// nodes. `None` on a thread that does not keep the edge.
pub(super) fn left_siblings(
    conn: &mut AnyConnection,
    index: u64,
) -> Result<Option<[Option<Hash>; LEVELS]>, DbError> {
    let kept = EDGE.with(|e| match &*e.borrow() {
        None => None,
        Some(Some(edge)) if edge.next == index => Some(Some(edge.left)),
        Some(_) => Some(None),
    });
    match kept {
        None => Ok(None),
        Some(Some(left)) => Ok(Some(left)),
        Some(None) => {
            let mut left = [None; LEVELS];
            for (level, slot) in left.iter_mut().enumerate() {
                let k = index >> level;
                if k == 0 {
                    break;
                }
                if k & 1 == 1 {
                    *slot = Some(stored_node(conn, Tree::Own, level as u32, k - 1)?);
                }
            }
            Ok(Some(left))
        }
    }
}

/// Records the nodes the append of leaf `index` wrote (`(level, idx,
/// hash)`, the leaf first): the edge is now for `index + 1`.
pub(super) fn appended(index: u64, mut left: [Option<Hash>; LEVELS], nodes: &[(u32, u64, Hash)]) {
    for &(level, idx, hash) in nodes {
        if let Some(slot) = left.get_mut(level as usize) {
            *slot = (idx & 1 == 0).then_some(hash);
        }
    }
    EDGE.with(|e| {
        if let Some(kept) = e.borrow_mut().as_mut() {
            *kept = Some(Edge {
                next: index + 1,
                left,
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::audit::{append, entries, node, size, Tree};
    use super::super::{migrate, Db, DbError};
    use crate::audit::merkle::MemoryTree;
    use crate::audit::Entry;

    /// Appends made through the writer thread, some of them rolled back
    /// (alone, or later in a group), and some by another thread, leave the
    /// stored tree exactly the tree of the entries that remain.
    #[tokio::test]
    async fn the_stored_tree_is_the_tree_of_the_entries_whatever_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let db = Db::open(&url.into(), &dir.path().join("keys"), 4, 5000).unwrap();
        db.write(|c| migrate(c).map(|_| ())).await.unwrap();
        let append_some = |n: usize, fail: bool| {
            let db = db.clone();
            async move {
                db.write(move |c| {
                    for _ in 0..n {
                        append(c, Entry::new("test", "test", "append"))?;
                    }
                    if fail {
                        return Err(DbError::Corrupt("refused after appending".into()));
                    }
                    Ok(())
                })
                .await
            }
        };
        for round in 0..40_usize {
            let tasks: Vec<_> = (0..5)
                .map(|i| tokio::spawn(append_some(1 + (round + i) % 3, i == round % 7)))
                .collect();
            for t in tasks {
                let _ = t.await.unwrap();
            }
            if round % 10 == 9 {
                // One append rolled back, then another connection appends
                // at the same index: only forgetting the edge at the
                // rollback keeps its leaf out of the next nodes.
                assert!(append_some(1, true).await.is_err());
                use diesel::connection::SimpleConnection;
                use diesel::Connection;
                let mut other = super::super::AnyConnection::Sqlite(
                    diesel::SqliteConnection::establish(
                        &dir.path().join("f.db").display().to_string(),
                    )
                    .unwrap(),
                );
                other.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
                other
                    .transaction(|c| append(c, Entry::new("test", "test", "aside")).map(|_| ()))
                    .unwrap_or_else(|e: DbError| panic!("{e}"));
            }
        }
        db.read_blocking(|c| {
            let n = size(c)?;
            assert!(n > 100, "{n} entries");
            let mut tree = MemoryTree::new();
            for e in entries(c, 0, n)? {
                tree.push(e.leaf_hash());
            }
            for level in 0..8 {
                for idx in 0..(n >> level) {
                    assert_eq!(
                        node(c, Tree::Own, level, idx)?,
                        tree.node(level, idx),
                        "node ({level}, {idx})"
                    );
                }
            }
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
