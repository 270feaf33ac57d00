//! Roles of API keys and what each may do. Deny by default: an action not listed for a role is
//! refused.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing API keys.
    Admin,
    /// Publish, quarantine, release and delete tools; list them and read their policies.
    Publisher,
    /// List and invoke tools.
    Invoker,
    /// Read the execution log and verify it; read tools' policies.
    Auditor,
}

/// Something a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ListTools,
    Publish,
    ManageTools,
    Invoke,
    ReadExecutions,
    VerifyAudit,
    ManageKeys,
    /// Replace a tool's policy: it decides what the tool may reach, so only an admin may.
    SetPolicy,
    /// Read a tool's policy and its history.
    ReadPolicy,
    /// `GET /metrics` when the server requires a key for it (the default).
    ReadMetrics,
    /// Read and cancel any caller's running calls and their kept answers (everyone may do so
    /// for their own).
    ManageExecutions,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Publisher, Role::Invoker, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Publisher => "publisher",
            Role::Invoker => "invoker",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may perform `action`.
    pub fn permits(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => true,
            Role::Publisher => matches!(action, ListTools | Publish | ManageTools | ReadPolicy),
            Role::Invoker => matches!(action, ListTools | Invoke),
            Role::Auditor => {
                matches!(
                    action,
                    ReadExecutions | VerifyAudit | ReadMetrics | ReadPolicy
                )
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_matrix() {
        use Action::*;
        let all = [
            ListTools,
            Publish,
            ManageTools,
            Invoke,
            ReadExecutions,
            VerifyAudit,
            ManageKeys,
            SetPolicy,
            ReadPolicy,
            ReadMetrics,
            ManageExecutions,
        ];
        let allowed = |r: Role| all.iter().filter(|a| r.permits(**a)).count();
        assert_eq!(allowed(Role::Admin), all.len());
        assert!(Role::Publisher.permits(Publish) && !Role::Publisher.permits(Invoke));
        assert!(Role::Invoker.permits(Invoke) && !Role::Invoker.permits(Publish));
        assert!(!Role::Invoker.permits(ReadExecutions));
        assert!(Role::Auditor.permits(VerifyAudit) && !Role::Auditor.permits(Invoke));
        assert!(!Role::Auditor.permits(ListTools));
        assert!(Role::Auditor.permits(ReadMetrics) && !Role::Invoker.permits(ReadMetrics));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(r.permits(ManageKeys), r == Role::Admin);
            assert_eq!(r.permits(SetPolicy), r == Role::Admin);
            assert_eq!(r.permits(ManageExecutions), r == Role::Admin);
            assert_eq!(r.permits(ReadPolicy), r != Role::Invoker);
        }
    }
}
