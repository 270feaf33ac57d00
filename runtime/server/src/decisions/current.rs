//! The bundle in force on this node. Read on every call (a lock held for a pointer copy), replaced
//! whole when the store says it changed.
//!
//! Deny by default: a bundle this node cannot compile (stored by a newer node, say) is not
//! ignored. Until a bundle it can use is applied, every decision on this node denies, naming the
//! cause, rather than letting the `[access]` rules alone decide what the operator meant to
//! restrict.

use cordon_decide::Decider;
use std::sync::{Arc, PoisonError, RwLock};

/// What decides calls on this node.
#[derive(Debug)]
pub enum Current {
    /// No bundle: the `[access]` rules alone decide (as before decisions existed).
    None,
    Ready(Arc<Decider>),
    /// The stored bundle does not compile here: every call is denied.
    Unusable {
        hash: String,
        why: String,
    },
}

impl Current {
    /// The hash of the bundle in force, if one is.
    pub fn hash(&self) -> Option<&str> {
        match self {
            Current::None => None,
            Current::Ready(d) => Some(d.hash()),
            Current::Unusable { hash, .. } => Some(hash),
        }
    }
}

/// The bundle this node holds.
#[derive(Debug)]
pub struct Holder(RwLock<Arc<Current>>);

impl Default for Holder {
    fn default() -> Self {
        Holder(RwLock::new(Arc::new(Current::None)))
    }
}

impl Holder {
    pub fn get(&self) -> Arc<Current> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, current: Current) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(current);
    }
}
