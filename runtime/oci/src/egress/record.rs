//! What a guard noted about its pull's connections, for the pull to report when it fails. The
//! client library sees only an answer (`403`, `407`, `502`) or a tunnel that did not open, and
//! reports it in its own words ("error sending request", "code: 407"); the guard knows which
//! host it refused or could not reach, and why. Every note is made before the client is
//! answered, so a pull failing on that answer always finds it.

use std::sync::{Mutex, PoisonError};

/// One thing the guard did to a request instead of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// The rules refused the destination (`host:port` as the client named it), or credentials
    /// were about to go to it over plain HTTP: why.
    Refused { destination: String, why: String },
    /// The destination's host name does not resolve: the resolver's answer.
    Unresolved { destination: String, why: String },
    /// No allowed address of the destination accepted a connection: the last failure.
    NoConnection { destination: String, why: String },
    /// A plain-HTTP request came without the pull's credential and was not a redirect the guard
    /// had seen: what a client sends when an HTTPS answer redirects it to plain HTTP on another
    /// host (it drops its proxy credential there).
    Uncredentialed { destination: String },
}

impl Note {
    /// Which note explains a failure best: a refusal, then a host that could not be reached,
    /// then a request without the credential.
    fn rank(&self) -> usize {
        match self {
            Note::Refused { .. } => 0,
            Note::Unresolved { .. } | Note::NoConnection { .. } => 1,
            Note::Uncredentialed { .. } => 2,
        }
    }
}

/// The notes of one guard: the first of each rank, so the record stays small whatever the
/// requests, and a refusal is never pushed out by later noise.
#[derive(Debug, Default)]
pub(crate) struct Record {
    notes: Mutex<[Option<Note>; 3]>,
}

impl Record {
    pub(crate) fn note(&self, note: Note) {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        notes[note.rank()].get_or_insert(note);
    }

    /// The note that explains a failed pull: the first of the best rank.
    pub(crate) fn explanation(&self) -> Option<Note> {
        let notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        notes.iter().flatten().next().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_explains_a_failure_before_anything_else() {
        let record = Record::default();
        assert_eq!(record.explanation(), None);
        record.note(Note::Uncredentialed {
            destination: "a:80".into(),
        });
        record.note(Note::NoConnection {
            destination: "b:80".into(),
            why: "refused".into(),
        });
        assert!(matches!(
            record.explanation(),
            Some(Note::NoConnection { .. })
        ));
        for d in ["c:80", "d:80"] {
            record.note(Note::Refused {
                destination: d.into(),
                why: "x".into(),
            });
        }
        assert_eq!(
            record.explanation(),
            Some(Note::Refused {
                destination: "c:80".into(),
                why: "x".into()
            })
        );
    }
}
