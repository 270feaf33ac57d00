//! A task waiting for input: the round it ran last ended asking its client (MCP
//! `input_required`), and the client answers through `tasks/update`, one request or several at a
//! time. The answers gather in the task's row, shared by every node; once every request is
//! answered one node claims the task's next round (`tasks.next`) and runs the tool again with
//! them, under a new execution id that the row points to.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a task waiting for input keeps until it is answered (the `tasks.waiting` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// The call's input, to run it again with the answers (the client does not send it again).
    pub input: String,
    /// The keys of what the round asked, in order.
    pub keys: Vec<String>,
    /// The answers received so far, by key.
    #[serde(default)]
    pub answers: Map<String, Value>,
}

impl Waiting {
    /// The keys not answered yet.
    pub fn pending(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|k| !self.answers.contains_key(*k))
            .map(String::as_str)
            .collect()
    }

    /// True once every request is answered.
    pub fn complete(&self) -> bool {
        self.keys.iter().all(|k| self.answers.contains_key(k))
    }

    /// Takes the answers to what is still pending; an answer to a key that was not asked, or
    /// was answered already, is ignored (the first answer stands). Whether anything changed.
    pub fn take(&mut self, responses: &Map<String, Value>) -> bool {
        let mut changed = false;
        for (key, value) in responses {
            if self.keys.contains(key) && !self.answers.contains_key(key) {
                self.answers.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        changed
    }

    pub(crate) fn parse(text: Option<String>) -> Option<Waiting> {
        text.and_then(|t| serde_json::from_str(&t).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_gather_until_every_key_has_one() {
        let mut w = Waiting {
            input: "{}".into(),
            keys: vec!["a".into(), "b".into()],
            answers: Map::new(),
        };
        assert_eq!(w.pending(), ["a", "b"]);
        let first = json!({"a": {"action": "accept"}, "stray": 1});
        assert!(w.take(first.as_object().unwrap()));
        assert_eq!(w.pending(), ["b"]);
        assert!(!w.complete());
        assert!(w.answers.get("stray").is_none());
        // A second answer to `a` does not replace the first.
        let again = json!({"a": {"action": "decline"}});
        assert!(!w.take(again.as_object().unwrap()));
        assert_eq!(w.answers["a"], json!({"action": "accept"}));
        assert!(w.take(json!({"b": 2}).as_object().unwrap()));
        assert!(w.complete());
        assert!(w.pending().is_empty());
    }
}
