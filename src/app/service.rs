//! The use cases as the adapters call them: [`App`] holds the database and
//! the node, and each method opens its own transaction (one write, or a
//! read), runs the use case in it and returns typed results. A user's
//! request is logged in the same transaction as what it changes
//! ([`Caller`]).

use std::sync::Arc;

use chrono::NaiveDateTime;

use super::audit::{case_entry, user_entry};
use super::cases::{self, Case, CaseError, CaseFilter, Created, Event, NewDraft};
use super::handover::Handover;
use super::reports::{NewReport, Report};
use super::NodeCtx;
use crate::audit::kinds;
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{Action, TransitionParams};
use crate::store::{Db, DbError};

pub use super::accounts::Principal;

/// The use cases over this node's database.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
}

/// Who asks, and what their audit entry names: the API operation
/// (`POST /api/v1/cases/{id}/…`) or the lifecycle action.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub action: String,
}

/// Everything a case's page shows besides the case itself.
pub struct CaseFile {
    pub case: Case,
    /// Since when a message to the other node has been waiting.
    pub waiting_since: Option<NaiveDateTime>,
    pub disagreement: Option<super::disagreements::Disagreement>,
    pub handover: Option<Handover>,
    /// How many of its messages are in each delivery status.
    pub delivery: Vec<(String, i64)>,
    pub reports: Vec<Report>,
    pub monitoring_started: Option<NaiveDateTime>,
}

impl App {
    pub fn new(db: Db, ctx: Arc<NodeCtx>) -> App {
        App { db, ctx }
    }

    /// Now, by the node's clock.
    pub fn now(&self) -> NaiveDateTime {
        self.ctx.clock.now()
    }

    /// Runs a change to one case for `caller`, with their audit entry, in
    /// one transaction.
    async fn change<F>(&self, caller: Caller, f: F) -> Result<Case, CaseError>
    where
        F: FnOnce(&mut crate::store::AnyConnection, &Principal) -> Result<Case, CaseError>
            + Send
            + 'static,
    {
        self.db
            .write(move |c| {
                let case = f(c, &caller.principal)?;
                super::audit::record(c, case_entry(&caller.principal, &caller.action, &case))?;
                Ok(case)
            })
            .await
    }

    /// Opens a new outgoing referral as a draft (or, for a repeated
    /// Idempotency-Key, returns the draft it opened).
    pub async fn create_case(&self, caller: Caller, draft: NewDraft) -> Result<Created, CaseError> {
        let now = self.now();
        let retry_once = draft.idempotency.is_some();
        let mut attempt = 0;
        loop {
            let draft = NewDraft {
                node: draft.node,
                details: draft.details.clone(),
                identity: draft.identity.clone(),
                idempotency: draft.idempotency.clone(),
            };
            let caller = caller.clone();
            let result = self
                .db
                .write(move |c| {
                    let created = cases::create_draft(c, draft, &caller.principal, now)?;
                    let mut e = case_entry(&caller.principal, &caller.action, &created.case);
                    e.code = created.replayed.then(|| "idempotent_replay".to_owned());
                    super::audit::record(c, e)?;
                    Ok(created)
                })
                .await;
            match result {
                // Two concurrent requests with one key (PostgreSQL): the
                // loser retries and replays.
                Err(CaseError::Db(e)) if e.is_unique_violation() && retry_once && attempt == 0 => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    /// Replaces a draft's data set and identity block.
    pub async fn edit_draft(
        &self,
        caller: Caller,
        id: CaseId,
        expected: i64,
        details: CaseDetails,
        identity: Option<Identity>,
    ) -> Result<Case, CaseError> {
        let now = self.now();
        self.change(caller, move |c, who| {
            cases::update_draft(c, id, expected, details, identity, who, now)
        })
        .await
    }

    /// A lifecycle action by a user of this node.
    pub async fn take_action(
        &self,
        caller: Caller,
        id: CaseId,
        expected: i64,
        action: Action,
        params: TransitionParams,
    ) -> Result<Case, CaseError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.change(caller, move |c, who| {
            cases::transition(c, &ctx, id, expected, action, params, who, now)
        })
        .await
    }

    /// The person withdrew consent: erase here, tell the other node.
    pub async fn withdraw_consent(
        &self,
        caller: Caller,
        id: CaseId,
        withdrawn_on: chrono::NaiveDate,
    ) -> Result<Case, CaseError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.change(caller, move |c, who| {
            super::erasure::withdraw_consent(c, &ctx, id, withdrawn_on, who, now)
        })
        .await
    }

    /// A counter-proposal (`plan`) or the acceptance (`None`) of the
    /// handover plan, on the case at version `expected`.
    pub async fn answer_handover(
        &self,
        caller: Caller,
        id: CaseId,
        expected: i64,
        plan: Option<crate::domain::handover::Plan>,
    ) -> Result<Case, CaseError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.change(caller, move |c, who| {
            let case = cases::get(c, id)?;
            cases::check_version(&case, expected)?;
            super::handover::answer_handover(c, &ctx, case, plan, Some(who), None, now)
        })
        .await
    }

    /// A repatriation report or a follow-up, recorded and sent.
    pub async fn record_report(
        &self,
        caller: Caller,
        id: CaseId,
        report: NewReport,
    ) -> Result<Case, CaseError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.change(caller, move |c, who| {
            let case = cases::get(c, id)?;
            super::reports::record_report(c, &ctx, case, report, Some(who), now)
        })
        .await
    }

    /// One case.
    pub async fn case(&self, id: CaseId) -> Result<Case, CaseError> {
        self.db.read_here(move |c| cases::get(c, id)).await
    }

    /// One case with what its page shows besides.
    pub async fn case_file(&self, id: CaseId) -> Result<CaseFile, CaseError> {
        // A few rows by key, read on the calling thread.
        self.db
            .read_here(move |c| {
                let case = cases::get(c, id)?;
                let counts = super::exchange::delivery_counts(c, id)?;
                let waiting_since = counts
                    .iter()
                    .filter(|(s, ..)| super::exchange::is_unsettled(s))
                    .filter_map(|(.., oldest)| *oldest)
                    .min();
                Ok(CaseFile {
                    case,
                    waiting_since,
                    disagreement: super::disagreements::open_for_case(c, id)?,
                    handover: super::handover::plan(c, id)?,
                    delivery: counts.into_iter().map(|(s, n, _)| (s, n)).collect(),
                    reports: super::reports::reports(c, id)?,
                    monitoring_started: super::reports::monitoring_started(c, id)?,
                })
            })
            .await
    }

    /// Cases, newest first.
    pub async fn cases(&self, filter: CaseFilter) -> Result<Vec<Case>, CaseError> {
        let now = self.now();
        self.db.read(move |c| cases::list(c, &filter, now)).await
    }

    /// A case and its timeline.
    pub async fn timeline(&self, id: CaseId) -> Result<(Case, Vec<Event>), CaseError> {
        self.db
            .read_here(move |c| Ok((cases::get(c, id)?, cases::events(c, id)?)))
            .await
    }

    /// A case's reports, and when its reintegration monitoring started.
    pub async fn reports(
        &self,
        id: CaseId,
    ) -> Result<(Case, Vec<Report>, Option<NaiveDateTime>), CaseError> {
        self.db
            .read(move |c| {
                Ok((
                    cases::get(c, id)?,
                    super::reports::reports(c, id)?,
                    super::reports::monitoring_started(c, id)?,
                ))
            })
            .await
    }

    /// The liaisons' board.
    pub async fn handover_board(&self) -> Result<Vec<(Case, Option<Handover>)>, CaseError> {
        let now = self.now();
        self.db.read(move |c| super::handover::board(c, now)).await
    }

    /// The crossing points in use.
    pub async fn active_crossings(&self) -> Result<Vec<String>, DbError> {
        self.db.read(super::directory::active_codes).await
    }

    /// Logs a user's action that changed no case (an administrator's, say)
    /// with what `f` writes, in one transaction.
    pub async fn audited<T, F>(&self, caller: Caller, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut crate::store::AnyConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.db
            .write(move |c| {
                let out = f(c)?;
                super::audit::record(
                    c,
                    user_entry(kinds::API_ACTION, &caller.principal, caller.action),
                )?;
                Ok(out)
            })
            .await
    }

    /// Like [`App::audited`] for a use case that may refuse: the caller's
    /// entry is written only when it succeeds (a refusal is audited as one
    /// by the API adapter).
    pub async fn audited_unless_refused<T, R, F>(
        &self,
        caller: Caller,
        f: F,
    ) -> Result<Result<T, R>, DbError>
    where
        F: FnOnce(&mut crate::store::AnyConnection) -> Result<Result<T, R>, DbError>
            + Send
            + 'static,
        T: Send + 'static,
        R: Send + 'static,
    {
        self.db
            .write(move |c| {
                let out = f(c)?;
                if out.is_ok() {
                    super::audit::record(
                        c,
                        user_entry(kinds::API_ACTION, &caller.principal, caller.action),
                    )?;
                }
                Ok(out)
            })
            .await
    }
}
