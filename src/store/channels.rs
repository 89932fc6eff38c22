//! The heads of the two hash chains, one row of `peer_channels` per
//! direction: the last sequence number and the hash of the last message.
//! Each head is updated in the same transaction as the message it adds.

use diesel::prelude::*;

use super::cached::fixed;
use super::schema::peer_channels;
use super::{AnyConnection, DbError};

const OUTGOING: &str = "outgoing";
const INCOMING: &str = "incoming";

/// Takes the next outgoing sequence number: returns it with the hash the
/// new message chains to and the last incoming sequence number (what this
/// node has seen of the other direction when it speaks). The `UPDATE` comes
/// first, which on PostgreSQL also locks the row, so concurrent writers take
/// sequence numbers in turn.
pub fn take_outgoing_seq(conn: &mut AnyConnection) -> Result<(i64, String, i64), DbError> {
    let (seq, prev_hash): (i64, String) = super::cached::native!(conn, |c| fixed!(
        diesel::update(peer_channels::table.find(OUTGOING))
            .set(peer_channels::last_seq.eq(peer_channels::last_seq + 1))
            .returning((peer_channels::last_seq, peer_channels::last_hash))
    )
    .get_result(c))?;
    let ack: i64 = super::cached::native!(conn, |c| peer_channels::table
        .find(INCOMING)
        .select(peer_channels::last_seq)
        .first(c))?;
    Ok((seq, prev_hash, ack))
}

/// Sets the hash of the last outgoing message (its sequence number was taken).
pub fn set_outgoing_hash(conn: &mut AnyConnection, hash: &str) -> Result<(), DbError> {
    super::cached::native!(conn, |c| fixed!(diesel::update(
        peer_channels::table.find(OUTGOING)
    )
    .set(peer_channels::last_hash.eq(hash))
    .returning(peer_channels::last_seq))
    .get_result::<i64>(c))?;
    Ok(())
}

/// The incoming head: last sequence number received and its hash.
pub fn incoming_head(conn: &mut AnyConnection) -> Result<(i64, String), DbError> {
    Ok(super::cached::native!(conn, |c| peer_channels::table
        .find(INCOMING)
        .select((peer_channels::last_seq, peer_channels::last_hash))
        .first(c))?)
}

/// Locks the incoming head until the transaction ends (the `UPDATE` takes
/// the row's lock on PostgreSQL; SQLite has one writer anyway), so that
/// batches arriving at two replicas at once are checked against the chain
/// one after the other. Returns the highest fencing token taken in so far.
pub fn lock_incoming(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(super::cached::native!(conn, |c| fixed!(diesel::update(
        peer_channels::table.find(INCOMING)
    )
    .set(peer_channels::fence.eq(peer_channels::fence))
    .returning(peer_channels::fence))
    .get_result(c))?)
}

/// Records `fence` as the highest fencing token taken in.
pub fn set_incoming_fence(conn: &mut AnyConnection, fence: i64) -> Result<(), DbError> {
    super::cached::native!(conn, |c| fixed!(diesel::update(
        peer_channels::table.find(INCOMING)
    )
    .set(peer_channels::fence.eq(fence))
    .returning(peer_channels::fence))
    .get_result::<i64>(c))?;
    Ok(())
}

/// Moves the incoming head to a message just taken into the chain.
pub fn set_incoming_head(conn: &mut AnyConnection, seq: i64, hash: &str) -> Result<(), DbError> {
    super::cached::native!(conn, |c| fixed!(diesel::update(
        peer_channels::table.find(INCOMING)
    )
    .set((
        peer_channels::last_seq.eq(seq),
        peer_channels::last_hash.eq(hash),
    ))
    .returning(peer_channels::last_seq))
    .get_result::<i64>(c))?;
    Ok(())
}

/// The outgoing head: last sequence number taken and its message's hash.
pub fn outgoing_head(conn: &mut AnyConnection) -> Result<(i64, String), DbError> {
    Ok(peer_channels::table
        .find(OUTGOING)
        .select((peer_channels::last_seq, peer_channels::last_hash))
        .first(conn)?)
}

/// The highest sequence number of this node's messages that the other node
/// receipted (0: none).
pub fn highest_receipted(conn: &mut AnyConnection) -> Result<i64, DbError> {
    use super::outbox::status;
    use super::schema::outbox_messages;
    Ok(outbox_messages::table
        .filter(outbox_messages::status.eq_any([status::DELIVERED, status::REJECTED]))
        .select(diesel::dsl::max(outbox_messages::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}
