//! Changes announced between processes sharing one store: what a node must read again when
//! another node publishes, deletes, quarantines, releases, sets a policy or changes a key.

/// What another process changed in a shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Change {
    /// Tools, their policies, or quarantine marks.
    Registry,
    /// API keys, or callers' suspensions.
    Keys,
    /// The decisions bundle in force.
    Decisions,
    /// A running call was asked to stop: the node running it reads its task again.
    Tasks,
    /// Anything may have changed (the listener was not listening for a while): read it all.
    Everything,
}

impl Change {
    /// The change an audit event of this kind records, if it records one others must apply.
    pub fn of_event(kind: &str) -> Option<Change> {
        match kind {
            "tool.publish" | "tool.delete" | "tool.quarantine" | "tool.release" | "policy.set" => {
                Some(Change::Registry)
            }
            // Suspensions are read with the keys (both are checked at authentication).
            "key.create" | "key.revoke" | "caller.suspend" | "caller.resume" => Some(Change::Keys),
            "decisions.apply" | "decisions.remove" => Some(Change::Decisions),
            _ => None,
        }
    }

    /// The name it travels under.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Registry => "registry",
            Change::Keys => "keys",
            Change::Decisions => "decisions",
            Change::Tasks => "tasks",
            Change::Everything => "everything",
        }
    }

    /// The inverse of [`Change::as_str`]; anything unknown (a newer node's) reads as
    /// [`Change::Everything`].
    pub fn parse(text: &str) -> Change {
        match text {
            "registry" => Change::Registry,
            "keys" => Change::Keys,
            "decisions" => Change::Decisions,
            "tasks" => Change::Tasks,
            _ => Change::Everything,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EVENT_KINDS;

    #[test]
    fn every_state_changing_event_is_announced() {
        let announced: Vec<&str> = EVENT_KINDS
            .iter()
            .copied()
            .filter(|k| Change::of_event(k).is_some())
            .collect();
        assert_eq!(
            announced,
            [
                "tool.publish",
                "tool.delete",
                "tool.quarantine",
                "tool.release",
                "policy.set",
                "key.create",
                "key.revoke",
                "decisions.apply",
                "decisions.remove",
                "caller.suspend",
                "caller.resume"
            ]
        );
        for c in [
            Change::Registry,
            Change::Keys,
            Change::Decisions,
            Change::Tasks,
            Change::Everything,
        ] {
            assert_eq!(Change::parse(c.as_str()), c);
        }
        assert_eq!(Change::parse("tools-v9"), Change::Everything);
    }
}
