//! Who made each MCP session of this node (`mcp/sessions.rs`): a session answers only the
//! caller that made it, one caller holds at most [`PER_CALLER`] of them, and the node at most
//! [`MAX_SESSIONS`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sessions one node keeps at most: beyond it, new clients are served without one (they are not
/// asked things, but they are served).
pub const MAX_SESSIONS: usize = 10_000;

/// Sessions one caller keeps at most on a node: a new one beyond it closes that caller's oldest
/// (a client that opens sessions in a loop evicts only its own).
pub const PER_CALLER: usize = 64;

/// How long a session is remembered without a request of its client: twice rmcp's own idle
/// limit, since a call waiting for its client's answer keeps rmcp's session alive without
/// the client sending anything.
pub const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Default)]
pub struct Owners(Mutex<HashMap<String, (String, Instant)>>);

impl Owners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when no new session may start here.
    pub fn full(&self) -> bool {
        let mut owners = self.lock();
        owners.retain(|_, (_, seen)| seen.elapsed() < FORGET_AFTER);
        owners.len() >= MAX_SESSIONS
    }

    /// Records a new session of `caller`; the caller's own oldest session when it is over its
    /// share (to be closed).
    pub fn insert(&self, session: String, caller: &str) -> Option<String> {
        let mut owners = self.lock();
        owners.retain(|_, (_, seen)| seen.elapsed() < FORGET_AFTER);
        let mut evicted = None;
        let own = owners.values().filter(|(owner, _)| owner == caller).count();
        if own >= PER_CALLER
            && let Some(oldest) = owners
                .iter()
                .filter(|(_, (owner, _))| owner == caller)
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(id, _)| id.clone())
        {
            owners.remove(&oldest);
            evicted = Some(oldest);
        }
        owners.insert(session, (caller.to_owned(), Instant::now()));
        evicted
    }

    /// True when `session` is one `caller` made here (and notes its use).
    pub fn owned_by(&self, session: &str, caller: &str) -> bool {
        let mut owners = self.lock();
        match owners.get_mut(session) {
            Some((owner, seen)) if owner == caller && seen.elapsed() < FORGET_AFTER => {
                *seen = Instant::now();
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_answers_only_its_owner() {
        let owners = Owners::default();
        assert_eq!(owners.insert("s1".into(), "alice"), None);
        assert!(owners.owned_by("s1", "alice"));
        assert!(!owners.owned_by("s1", "bob"));
        assert!(!owners.owned_by("s2", "alice"));
    }

    #[test]
    fn a_caller_over_its_share_loses_its_own_oldest_session() {
        let owners = Owners::default();
        owners.insert("bob-1".into(), "bob");
        for i in 0..PER_CALLER {
            assert_eq!(owners.insert(format!("a{i}"), "alice"), None);
        }
        assert_eq!(owners.insert("a-new".into(), "alice"), Some("a0".into()));
        assert!(!owners.owned_by("a0", "alice"));
        assert!(owners.owned_by("a-new", "alice"));
        assert!(owners.owned_by("bob-1", "bob"));
        assert!(!owners.full());
    }
}
