//! The two nodes agree on every shared case: the rules that say when they
//! disagree, and who is right.
//!
//! Each node describes each shared case by a [`CaseDigest`]: its state, the
//! last message it sent about the case (and what it had received from the
//! other side when it sent it), the last message it received about it,
//! whether all its messages about it are settled, and whether its state is
//! the one its own timeline records. The nodes exchange digests bucket by
//! bucket ([`bucket`], [`bucket_hash`]), so equal buckets cost 16 bytes.
//!
//! [`judge`] compares the two digests of one case:
//! - messages still travelling either way: nothing to say yet;
//! - same state: agreement;
//! - otherwise a disagreement, repaired by this rule (the README's):
//!   1. a node that rejected a message of the other side about the case
//!      re-applies it first (done before judging, see the `app` layer);
//!   2. a node whose state differs from its own timeline (changed behind
//!      its back) is not authoritative: if exactly one side is consistent,
//!      its state stands and the other side adopts it;
//!   3. else the side that took the last step — whose last message about
//!      the case was sent after it had received the other side's last one —
//!      is authoritative, and the other side adopts its state;
//!   4. else (both inconsistent, or both sent their last messages without
//!      having seen each other's) the disagreement is put to a supervisor.

use serde::{Deserialize, Serialize};

/// What one node holds about one shared case (ids, states and sequence
/// numbers: no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDigest {
    pub referral_id: String,
    pub state: String,
    /// For `on_hold`: the state it was put on hold from.
    pub hold_from: Option<String>,
    /// Highest sequence number of a message this node sent about the case (0: none).
    pub sent_seq: i64,
    /// What this node had received from the other when it sent that message.
    pub sent_ack: i64,
    /// Highest sequence number of a message this node received about the case (0: none).
    pub received_seq: i64,
    /// Every message this node sent about the case has its receipt.
    pub settled: bool,
    /// The state is the one the node's own timeline records last.
    pub consistent: bool,
}

impl CaseDigest {
    /// The part both nodes must hold equal once nothing is travelling, in
    /// the order that makes the two sides' lines comparable: this side's
    /// line as the other side would write it is [`Self::mirrored_line`].
    fn line(&self, sent: i64, received: i64) -> String {
        format!(
            "{}|{}|{}|{}|{}\n",
            self.referral_id,
            self.state,
            self.hold_from.as_deref().unwrap_or(""),
            sent,
            received
        )
    }

    /// This node's line, directions named from the Niamey→Abuja point of
    /// view so that both nodes write the same line for an agreed case.
    pub fn canonical_line(&self, from_first_node: bool) -> String {
        if from_first_node {
            self.line(self.sent_seq, self.received_seq)
        } else {
            self.line(self.received_seq, self.sent_seq)
        }
    }
}

/// The bucket of a referral: the first byte of SHA-256 of its id, in hex.
pub fn bucket(referral_id: &str) -> String {
    format!("{:02x}", openssl::sha::sha256(referral_id.as_bytes())[0])
}

/// Hash of a bucket's digests (sorted by referral id): 16 bytes, hex.
/// `from_first_node` names the directions the same way on both nodes.
pub fn bucket_hash(digests: &[&CaseDigest], from_first_node: bool) -> String {
    let mut sorted: Vec<&&CaseDigest> = digests.iter().collect();
    sorted.sort_by(|a, b| a.referral_id.cmp(&b.referral_id));
    let mut h = openssl::sha::Sha256::new();
    for d in sorted {
        h.update(d.canonical_line(from_first_node).as_bytes());
    }
    h.finish()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who is right about a case the nodes disagree on, from this node's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// This node adopts the other side's state.
    AdoptTheirs,
    /// This node's state stands; the other side adopts it.
    KeepOurs,
    /// No rule applies: a supervisor decides.
    Escalate,
}

impl Repair {
    /// How the disagreement is recorded.
    pub fn resolution(self) -> &'static str {
        match self {
            Repair::AdoptTheirs => "adopted_peer_state",
            Repair::KeepOurs => "kept_local_state",
            Repair::Escalate => "escalated",
        }
    }
}

/// The comparison of one case's two digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Both hold the same state.
    Agree,
    /// Messages about the case are still travelling: compare later.
    InFlight,
    /// The states differ although nothing is travelling.
    Disagree(Repair),
}

/// Compares this node's digest of a case with the other node's.
pub fn judge(mine: &CaseDigest, theirs: &CaseDigest) -> Verdict {
    let quiet = mine.sent_seq == theirs.received_seq
        && mine.received_seq == theirs.sent_seq
        && mine.settled
        && theirs.settled;
    if !quiet {
        return Verdict::InFlight;
    }
    if mine.state == theirs.state && mine.hold_from == theirs.hold_from {
        return Verdict::Agree;
    }
    let repair = match (mine.consistent, theirs.consistent) {
        (true, false) => Repair::KeepOurs,
        (false, true) => Repair::AdoptTheirs,
        (false, false) => Repair::Escalate,
        (true, true) => {
            // My last message came after theirs if, when I sent it, I had
            // received their last one (and the other way round).
            let mine_last = mine.sent_seq > 0 && mine.sent_ack >= theirs.sent_seq;
            let theirs_last = theirs.sent_seq > 0 && theirs.sent_ack >= mine.sent_seq;
            match (mine_last, theirs_last) {
                (true, false) => Repair::KeepOurs,
                (false, true) => Repair::AdoptTheirs,
                _ => Repair::Escalate,
            }
        }
    };
    Verdict::Disagree(repair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(state: &str, sent: i64, ack: i64, received: i64) -> CaseDigest {
        CaseDigest {
            referral_id: "r".into(),
            state: state.into(),
            hold_from: None,
            sent_seq: sent,
            sent_ack: ack,
            received_seq: received,
            settled: true,
            consistent: true,
        }
    }

    #[test]
    fn messages_in_flight_are_not_a_disagreement() {
        // Niamey sent 7; Abuja has not received it yet.
        assert_eq!(
            judge(&d("approved", 7, 0, 0), &d("received", 0, 0, 6)),
            Verdict::InFlight
        );
        let mut unsettled = d("approved", 7, 0, 0);
        unsettled.settled = false;
        assert_eq!(
            judge(&unsettled, &d("received", 0, 0, 7)),
            Verdict::InFlight
        );
    }

    #[test]
    fn equal_states_agree() {
        assert_eq!(
            judge(&d("accepted", 7, 3, 4), &d("accepted", 4, 7, 7)),
            Verdict::Agree
        );
    }

    #[test]
    fn the_side_that_took_the_last_step_is_authoritative() {
        // Niamey's referral 7 (having seen nothing); Abuja's decision 4,
        // sent after receiving 7: Abuja took the last step.
        let niamey = d("received", 7, 0, 4);
        let abuja = d("accepted", 4, 7, 7);
        assert_eq!(
            judge(&niamey, &abuja),
            Verdict::Disagree(Repair::AdoptTheirs)
        );
        assert_eq!(judge(&abuja, &niamey), Verdict::Disagree(Repair::KeepOurs));
    }

    #[test]
    fn a_state_changed_behind_a_nodes_back_loses() {
        let niamey = d("accepted", 7, 0, 4);
        let mut abuja = d("declined", 4, 7, 7);
        abuja.consistent = false;
        assert_eq!(judge(&niamey, &abuja), Verdict::Disagree(Repair::KeepOurs));
        assert_eq!(
            judge(&abuja, &niamey),
            Verdict::Disagree(Repair::AdoptTheirs)
        );
    }

    #[test]
    fn crossing_steps_or_two_inconsistent_sides_go_to_a_supervisor() {
        // Each sent its last message without having seen the other's.
        let a = d("on_hold", 9, 3, 4);
        let b = d("cancelled", 4, 8, 9);
        assert_eq!(judge(&a, &b), Verdict::Disagree(Repair::Escalate));
        assert_eq!(judge(&b, &a), Verdict::Disagree(Repair::Escalate));
        let mut x = d("accepted", 7, 0, 4);
        let mut y = d("declined", 4, 7, 7);
        x.consistent = false;
        y.consistent = false;
        assert_eq!(judge(&x, &y), Verdict::Disagree(Repair::Escalate));
    }

    #[test]
    fn both_nodes_hash_an_agreed_bucket_alike() {
        let niamey = d("accepted", 7, 3, 4);
        let abuja = d("accepted", 4, 7, 7);
        assert_eq!(bucket_hash(&[&niamey], true), bucket_hash(&[&abuja], false));
        let other = d("declined", 4, 7, 7);
        assert_ne!(bucket_hash(&[&niamey], true), bucket_hash(&[&other], false));
        assert_eq!(bucket("r").len(), 2);
    }
}
