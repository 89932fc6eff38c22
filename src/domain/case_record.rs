//! A case as this node holds it: its place in the lifecycle, its version,
//! its time limit, the data set and the person's identity block; and one
//! entry of its timeline. Storage reads and writes these; the use cases
//! decide what changes.

use chrono::NaiveDateTime;

use super::case::{CaseDetails, Identity};
use super::ids::{CaseId, CaseReference, NodeId, ReferralId, UserId};
use super::lifecycle::{Side, State};

/// A case as stored, parsed.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: CaseId,
    pub referral_id: ReferralId,
    pub reference: CaseReference,
    /// `Sending` for an outgoing referral, `Receiving` for an incoming one.
    pub side: Side,
    pub state: State,
    pub hold_from: Option<State>,
    pub version: i64,
    pub counterpart: NodeId,
    pub details: CaseDetails,
    pub identity: Option<Identity>,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub closure_outcome: Option<String>,
    pub reason_code: Option<String>,
    /// When the person's data was erased (consent withdrawn).
    pub erased_at: Option<NaiveDateTime>,
}

impl Case {
    /// Past its step's time limit and not finished: the one definition of
    /// an overdue step (the case list's `overdue` filter says the same in SQL).
    pub fn is_overdue(&self, now: NaiveDateTime) -> bool {
        self.due_at.is_some_and(|d| d < now) && !self.state.is_terminal()
    }
}

/// One entry of a case's timeline.
#[derive(Debug, Clone)]
pub struct Event {
    pub version: i64,
    pub at: NaiveDateTime,
    /// `created`, `edited`, or a transition action.
    pub kind: String,
    pub from_state: Option<State>,
    pub to_state: State,
    /// `user` or `peer`.
    pub actor_kind: String,
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<String>,
    pub reason_code: Option<String>,
    pub outcome: Option<String>,
    pub comment: Option<String>,
}

/// A case's next state and what goes with it.
#[derive(Debug, Clone)]
pub struct StateChange {
    pub to: State,
    pub hold_from: Option<State>,
    pub closure_outcome: Option<String>,
    pub reason_code: Option<String>,
    /// The new step's time limit, if it has one.
    pub due_at: Option<NaiveDateTime>,
}
