//! Roles and the permission matrix: the one place that says who may do what.
//!
//! Users belong to the agency running the node. What a role may see of a
//! case is a [`CaseView`]; which lifecycle actions it may take is in
//! [`crate::domain::lifecycle`].

use serde::{Deserialize, Serialize};

/// Role of a user account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Prepares and follows referrals; sees the full case including identity.
    Caseworker,
    /// Approves and decides referrals; sees the full case including identity.
    Supervisor,
    /// Border liaison (e.g. NAPTIP Kano zonal command, Niger DST police):
    /// sees only what a handover needs, and only for cases at that stage.
    Liaison,
    /// Joint Technical Working Group reviewer: case skeletons only, never
    /// personal data.
    JtwgReviewer,
    /// Administers the node (users, tokens); sees no case data.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Caseworker,
        Role::Supervisor,
        Role::Liaison,
        Role::JtwgReviewer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caseworker => "caseworker",
            Role::Supervisor => "supervisor",
            Role::Liaison => "liaison",
            Role::JtwgReviewer => "jtwg_reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role `{s}`: expected caseworker, supervisor, liaison, jtwg_reviewer or admin")
            })
    }

    /// What this role may see of a case, if anything.
    pub fn case_view(self) -> Option<CaseView> {
        match self {
            Role::Caseworker | Role::Supervisor => Some(CaseView::Full),
            Role::Liaison => Some(CaseView::Handover),
            Role::JtwgReviewer => Some(CaseView::Skeleton),
            Role::Admin => None,
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        MATRIX
            .iter()
            .find(|(p, _)| *p == permission)
            .is_some_and(|(_, roles)| roles.contains(&self))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of a case a role may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseView {
    /// Everything, including the identity block.
    Full,
    /// The handover essentials (sex, age band, minor flag, dependants,
    /// languages, urgent needs, travel documents, risk) and the person's
    /// names for identification at the border; no contact details, no
    /// exploitation history, no consent record. Only for cases between
    /// acceptance and handover.
    Handover,
    /// Reference, state, direction and dates: no personal data at all.
    Skeleton,
}

/// Something a user may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the bilingual code lists.
    ReadCodeLists,
    /// Read one's own account.
    ReadOwnAccount,
    /// Open a new referral case (draft).
    CreateCase,
    /// Edit a draft.
    EditDraft,
    /// List cases (filtered to what the role's view allows).
    ListCases,
    /// Read one case (in the role's view).
    ReadCase,
    /// Read a case's event timeline.
    ReadTimeline,
    /// Ask for a lifecycle transition (the lifecycle decides which ones).
    TransitionCase,
    /// List the node's user accounts.
    ListUsers,
    /// Create, change and disable accounts, reset passwords, revoke credentials.
    ManageUsers,
    /// See the messages exchanged with the other node about a case.
    ReadCaseMessages,
    /// Watch and repair the exchange: all messages, alerts, retrying suspended messages.
    ManageExchange,
    /// Review the exchange log, checkpoints, reconciliation and statistics
    /// (read-only, no personal data).
    ReviewExchange,
    /// Sign a checkpoint now and have the peer cosign it; re-check the peer's log.
    ManageAudit,
    /// Record that the person withdrew consent (erases the person's data on both nodes).
    WithdrawConsent,
    /// Counter-propose or accept a handover plan.
    NegotiateHandover,
    /// See the liaisons' board of upcoming and open handovers.
    ViewHandovers,
    /// Record and read repatriation reports and reintegration follow-ups.
    ReportOutcomes,
    /// Search the directory of first-line responders.
    ReadDirectory,
    /// Keep this side's directory current (organisations, services, shelter places).
    ManageDirectory,
    /// Add, rename, retire border crossing points.
    ManageCrossingPoints,
}

use Role::*;

/// The permission matrix.
pub const MATRIX: &[(Permission, &[Role])] = &[
    (
        Permission::ReadCodeLists,
        &[Caseworker, Supervisor, Liaison, JtwgReviewer, Admin],
    ),
    (
        Permission::ReadOwnAccount,
        &[Caseworker, Supervisor, Liaison, JtwgReviewer, Admin],
    ),
    (Permission::CreateCase, &[Caseworker, Supervisor]),
    (Permission::EditDraft, &[Caseworker, Supervisor]),
    (
        Permission::ListCases,
        &[Caseworker, Supervisor, Liaison, JtwgReviewer],
    ),
    (
        Permission::ReadCase,
        &[Caseworker, Supervisor, Liaison, JtwgReviewer],
    ),
    (
        Permission::ReadTimeline,
        &[Caseworker, Supervisor, Liaison, JtwgReviewer],
    ),
    (
        Permission::TransitionCase,
        &[Caseworker, Supervisor, Liaison],
    ),
    (Permission::ListUsers, &[Admin]),
    (Permission::ManageUsers, &[Admin]),
    (Permission::ReadCaseMessages, &[Caseworker, Supervisor]),
    (Permission::ManageExchange, &[Admin]),
    (Permission::ReviewExchange, &[JtwgReviewer, Admin]),
    (Permission::ManageAudit, &[Admin]),
    (Permission::WithdrawConsent, &[Caseworker, Supervisor]),
    (Permission::NegotiateHandover, &[Supervisor, Liaison]),
    (
        Permission::ViewHandovers,
        &[Caseworker, Supervisor, Liaison],
    ),
    (Permission::ReportOutcomes, &[Caseworker, Supervisor]),
    (
        Permission::ReadDirectory,
        &[Caseworker, Supervisor, Liaison, Admin],
    ),
    (Permission::ManageDirectory, &[Supervisor, Admin]),
    (Permission::ManageCrossingPoints, &[Admin]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn jtwg_and_admin_never_see_personal_data() {
        assert_eq!(JtwgReviewer.case_view(), Some(CaseView::Skeleton));
        assert_eq!(Admin.case_view(), None);
        assert!(!JtwgReviewer.can(Permission::CreateCase));
        assert!(!JtwgReviewer.can(Permission::TransitionCase));
        assert!(!Admin.can(Permission::ReadCase));
    }

    #[test]
    fn matrix_has_every_permission_once() {
        let all = [
            Permission::ReadCodeLists,
            Permission::ReadOwnAccount,
            Permission::CreateCase,
            Permission::EditDraft,
            Permission::ListCases,
            Permission::ReadCase,
            Permission::ReadTimeline,
            Permission::TransitionCase,
            Permission::ListUsers,
            Permission::ManageUsers,
            Permission::ReadCaseMessages,
            Permission::ManageExchange,
            Permission::ReviewExchange,
            Permission::ManageAudit,
            Permission::WithdrawConsent,
            Permission::NegotiateHandover,
            Permission::ViewHandovers,
            Permission::ReportOutcomes,
            Permission::ReadDirectory,
            Permission::ManageDirectory,
            Permission::ManageCrossingPoints,
        ];
        assert_eq!(MATRIX.len(), all.len());
        for p in all {
            assert_eq!(MATRIX.iter().filter(|(q, _)| *q == p).count(), 1);
        }
    }
}
