//! [`App`]'s use cases for administrators, supervisors' settlements, the
//! JTWG's review and authentication: each opens its own transaction.

use chrono::NaiveDateTime;

use super::accounts::{AuthFailure, Principal, User};
use super::audit::{case_entry, user_entry};
use super::cases::{self, Case, CaseError};
use super::directory::{CrossingPoint, Organization};
use super::disagreements::Disagreement;
use super::exchange::{AlertRow, IncomingMessage, OutgoingMessage};
use super::service::{App, Caller};
use crate::audit::{kinds, Entry};
use crate::domain::ids::{CaseId, MessageId};
use crate::domain::lifecycle::State;
use crate::domain::statistics::Statistics;
use crate::store::DbError;

impl App {
    /// The caller behind a bearer token, or why there is none.
    pub async fn authenticate(
        &self,
        token: String,
    ) -> Result<Result<Principal, AuthFailure>, DbError> {
        // Token lifetimes run on the system clock, not the node's.
        let now = chrono::Utc::now().naive_utc();
        // One statement: the token and its user (every request: read on
        // the calling thread).
        self.db
            .read_one_here(move |c| {
                crate::meter::scope(crate::meter::Part::Authentication, || {
                    super::accounts::authenticate(c, &token, now)
                })
            })
            .await
    }

    /// Writes an audit entry on its own (a refusal, an access).
    pub async fn log(&self, entry: Entry) -> Result<(), DbError> {
        self.db
            .write_unguarded(move |c| super::audit::record(c, entry).map(|_| ()))
            .await
    }

    /// The user accounts.
    pub async fn users(&self) -> Result<Vec<User>, DbError> {
        self.db.read(super::accounts::list_users).await
    }

    /// Every crossing point, active or not.
    pub async fn crossing_points(&self) -> Result<Vec<CrossingPoint>, DbError> {
        self.db.read(super::directory::crossing_points).await
    }

    /// Adds or changes a crossing point; true if it existed.
    pub async fn set_crossing_point(
        &self,
        caller: Caller,
        point: CrossingPoint,
    ) -> Result<bool, DbError> {
        let now = self.now();
        self.audited(caller, move |c| {
            super::directory::set_crossing_point(c, &point, now)
        })
        .await
    }

    /// This node's side of the service directory.
    pub async fn directory(&self) -> Result<Vec<Organization>, DbError> {
        self.db.read(super::directory::all).await
    }

    /// Adds an organisation on this node's side; returns its id.
    pub async fn add_organization(
        &self,
        caller: Caller,
        input: crate::domain::directory::OrganizationInput,
    ) -> Result<String, DbError> {
        let (country, now) = (self.ctx.node.country().to_owned(), self.now());
        self.audited(caller, move |c| {
            super::directory::add_organization(c, &input, &country, now)
        })
        .await
    }

    /// Adds a service to an organisation; its id, or `None` when there is no
    /// such organisation.
    pub async fn add_service(
        &self,
        caller: Caller,
        organization: String,
        input: crate::domain::directory::ServiceInput,
    ) -> Result<Option<String>, DbError> {
        let now = self.now();
        self.audited(caller, move |c| {
            super::directory::add_service(c, &organization, &input, now)
        })
        .await
    }

    /// Sets a shelter's places available; false when there is no such service.
    pub async fn set_capacity(
        &self,
        caller: Caller,
        service: String,
        capacity: crate::domain::directory::Capacity,
    ) -> Result<bool, DbError> {
        let now = self.now();
        self.audited(caller, move |c| {
            super::directory::set_capacity(c, &service, capacity, now)
        })
        .await
    }

    /// The disagreements with the other node (open ones only, or all).
    pub async fn disagreements(&self, open_only: bool) -> Result<Vec<Disagreement>, DbError> {
        self.db
            .read(move |c| super::disagreements::list(c, open_only, 1000))
            .await
    }

    /// A supervisor settles a case's open disagreement by adopting the
    /// other node's state; `None` when there is none to adopt.
    pub async fn adopt_peer_state(
        &self,
        caller: Caller,
        id: CaseId,
    ) -> Result<Option<Case>, CaseError> {
        let (ctx, now) = (self.ctx.clone(), self.now());
        self.db
            .write(move |c| {
                let Some(open) = super::disagreements::open_for_case(c, id)? else {
                    return Ok(None);
                };
                let Some(to) = State::parse(&open.peer_state) else {
                    return Ok(None);
                };
                let hold_from = open.peer_hold_from.as_deref().and_then(State::parse);
                let case = cases::resynchronise(c, &ctx, id, to, hold_from, now)?;
                super::disagreements::settled_by_supervisor(c, &open.referral_id, now)?;
                super::audit::record(c, case_entry(&caller.principal, &caller.action, &case))?;
                Ok(Some(case))
            })
            .await
    }

    /// A case's messages both ways.
    pub async fn case_messages(
        &self,
        id: CaseId,
    ) -> Result<(Vec<OutgoingMessage>, Vec<IncomingMessage>), CaseError> {
        self.db
            .read(move |c| {
                let case = cases::get(c, id)?;
                Ok((
                    super::exchange::list_outgoing(c, None, Some(id), None, 10_000)?,
                    super::exchange::list_incoming(c, case.referral_id)?,
                ))
            })
            .await
    }

    /// Outgoing messages, optionally by status.
    pub async fn outgoing(
        &self,
        status: Option<String>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<OutgoingMessage>, DbError> {
        self.db
            .read(move |c| super::exchange::list_outgoing(c, status.as_deref(), None, after, limit))
            .await
    }

    /// Puts a suspended message back in the queue (logged when it was).
    pub async fn retry_message(&self, caller: Caller, id: MessageId) -> Result<usize, DbError> {
        let now = self.now();
        self.db
            .write(move |c| {
                let n = super::exchange::retry(c, Some(id), now)?;
                if n > 0 {
                    let mut e = user_entry(kinds::API_ACTION, &caller.principal, caller.action);
                    e.message_id = Some(id.to_string());
                    super::audit::record(c, e)?;
                }
                Ok(n)
            })
            .await
    }

    /// The latest alerts.
    pub async fn alerts(
        &self,
        before: Option<String>,
        limit: i64,
    ) -> Result<Vec<AlertRow>, DbError> {
        self.db
            .read(move |c| super::exchange::list_alerts(c, before.as_deref(), limit))
            .await
    }

    /// The exchange's audit entries recorded in `[from, to)`.
    pub async fn exchange_entries(
        &self,
        from: Option<NaiveDateTime>,
        to: Option<NaiveDateTime>,
        limit: i64,
    ) -> Result<Vec<Entry>, DbError> {
        self.db
            .read(move |c| super::review::exchange_entries(c, from, to, limit))
            .await
    }

    /// One page of the exchange log, and whether more follow.
    pub async fn exchange_page(
        &self,
        filter: super::review::ExchangeFilter,
    ) -> Result<(Vec<Entry>, bool), DbError> {
        self.db
            .read(move |c| super::review::exchange_page(c, &filter))
            .await
    }

    /// One page of the reconciliation report of a period (see
    /// [`super::reconciliation::page`]).
    pub async fn reconciliation_page(
        &self,
        from: Option<NaiveDateTime>,
        to: Option<NaiveDateTime>,
        after: Option<(NaiveDateTime, String)>,
        limit: i64,
    ) -> Result<super::reconciliation::Page, DbError> {
        self.db
            .read(move |c| super::reconciliation::page(c, from, to, after, limit))
            .await
    }

    /// The statistics of a period.
    pub async fn statistics(
        &self,
        from: Option<NaiveDateTime>,
        to: Option<NaiveDateTime>,
        min: u64,
    ) -> Result<Statistics, DbError> {
        self.db
            .read(move |c| super::statistics::of_period(c, from, to, min))
            .await
    }

    /// One page of the checkpoints of these logs, with their cosignatures
    /// (see [`super::review::checkpoint_page`]).
    pub async fn checkpoint_page(
        &self,
        origins: Vec<String>,
        from: Option<NaiveDateTime>,
        to: Option<NaiveDateTime>,
        after: Option<super::review::CheckpointCursor>,
        newest: bool,
        limit: usize,
    ) -> Result<
        (
            Vec<super::review::CheckpointWithCosignatures>,
            Option<super::review::CheckpointCursor>,
        ),
        DbError,
    > {
        self.db
            .read(move |c| {
                super::review::checkpoint_page(c, &origins, from, to, after, newest, limit)
            })
            .await
    }

    /// The audit log's size and its entries `[from, from + limit)`.
    pub async fn audit_entries(&self, from: u64, limit: u64) -> Result<(u64, Vec<Entry>), DbError> {
        self.db
            .read(move |c| {
                let size = super::audit::size(c)?;
                let to = size.min(from.saturating_add(limit));
                let items = if from < to {
                    super::audit::entries(c, from, to)?
                } else {
                    Vec::new()
                };
                Ok((size, items))
            })
            .await
    }
}
