//! Asking the caller's client for what a tool lacks (contract 0.2.0): a confirmation or a form
//! from the user, a link for them to open, a completion from the client's model, the client's
//! roots.
//!
//! A call that asks ends its round; the caller answers and calls again, and the tool function
//! runs again from the start with every answer so far. So `ask` reads like a blocking call:
//!
//! ```ignore
//! #[cordon_sdk::tool(description = "Deletes files, once the user confirms")]
//! fn delete(input: Input) -> Result<Reply, Error> {
//!     let answers = cordon_sdk::ask([Request::form(
//!         "confirm",
//!         format!("Delete {} files?", input.paths.len()),
//!         json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}),
//!     )])?;
//!     if answers.accepted("confirm").and_then(|c| c["ok"].as_bool()) != Some(true) {
//!         return Ok(Reply::new().text("nothing deleted"));
//!     }
//!     ...
//! }
//! ```
//!
//! The answers of earlier rounds travel in the round's state, which the host seals: the caller
//! can neither read nor change them. What a tool may ask is its policy's `[ask]` section;
//! [`may_ask`] says what this call may ask (the policy, narrowed to what the client answers).

use crate::__private::bindings::cordon::tool::types as wit;
use crate::Error;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// One thing to ask, under a key its answer comes back with.
#[derive(Debug, Clone)]
pub struct Request {
    key: String,
    request: wit::InputRequest,
}

impl Request {
    /// A form for the user: `message`, and a flat JSON Schema (an object of simple properties)
    /// of what to fill in. The answer is MCP's `ElicitResult` (`action`, `content`).
    pub fn form(
        key: impl Into<String>,
        message: impl Into<String>,
        requested_schema: serde_json::Value,
    ) -> Request {
        Request {
            key: key.into(),
            request: wit::InputRequest::ElicitForm(wit::ElicitForm {
                message: message.into(),
                requested_schema: requested_schema.to_string(),
            }),
        }
    }

    /// A page for the user to open (https, on a host the policy lists).
    pub fn url(
        key: impl Into<String>,
        message: impl Into<String>,
        url: impl Into<String>,
        elicitation_id: impl Into<String>,
    ) -> Request {
        Request {
            key: key.into(),
            request: wit::InputRequest::ElicitUrl(wit::ElicitUrl {
                message: message.into(),
                url: url.into(),
                elicitation_id: elicitation_id.into(),
            }),
        }
    }

    /// A completion from the client's model: MCP `sampling/createMessage` params (`messages`,
    /// `maxTokens`, ...). The answer is MCP's `CreateMessageResult`.
    pub fn sample(key: impl Into<String>, params: serde_json::Value) -> Request {
        Request {
            key: key.into(),
            request: wit::InputRequest::Sample(params.to_string()),
        }
    }

    /// A completion of one user message, at most `max_tokens` long.
    pub fn prompt(key: impl Into<String>, text: impl Into<String>, max_tokens: u32) -> Request {
        let text: String = text.into();
        Request::sample(
            key,
            serde_json::json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
                "maxTokens": max_tokens,
            }),
        )
    }

    /// The client's roots. The answer is MCP's `ListRootsResult` (`roots`).
    pub fn roots(key: impl Into<String>) -> Request {
        Request {
            key: key.into(),
            request: wit::InputRequest::ListRoots,
        }
    }
}

/// What a call may ask for.
pub type Asking = wit::Asking;

/// The answers so far, each the client's result under its request's key.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    answers: BTreeMap<String, serde_json::Value>,
}

impl Answers {
    /// The client's result for `key`, as it sent it.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.answers.get(key)
    }

    /// The content of an elicitation the user accepted (`None`: declined, cancelled, or not
    /// an elicitation).
    pub fn accepted(&self, key: &str) -> Option<&serde_json::Value> {
        let answer = self.answers.get(key)?;
        (answer.get("action")?.as_str()? == "accept").then(|| answer.get("content"))?
    }

    /// The text of a sampling answer.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.answers.get(key)?.get("content")?.get("text")?.as_str()
    }
}

/// What the host told this call, kept while it runs.
#[derive(Default)]
pub(crate) struct Context {
    may_ask: Option<Asking>,
    answers: BTreeMap<String, serde_json::Value>,
    resumed: bool,
}

thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

/// Sets the call's context before the tool function runs: the answers carried in the state
/// of earlier rounds, then this round's.
pub(crate) fn enter(context: wit::CallContext) {
    let mut answers = BTreeMap::new();
    // Resumed: it came back with the state the host sealed (answers alone are not a resume).
    let resumed = context.resume.as_ref().is_some_and(|r| !r.state.is_empty());
    if let Some(resume) = context.resume {
        if let Ok(carried) =
            serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&resume.state)
        {
            answers = carried;
        }
        for response in resume.responses {
            if let Ok(value) = serde_json::from_str(&response.response) {
                answers.insert(response.key, value);
            }
        }
    }
    CONTEXT.with(|c| {
        *c.borrow_mut() = Context {
            may_ask: Some(context.may_ask),
            answers,
            resumed,
        }
    });
}

/// The state to carry into the next round: every answer so far.
pub(crate) fn state() -> Vec<u8> {
    CONTEXT.with(|c| serde_json::to_vec(&c.borrow().answers).unwrap_or_default())
}

/// What this call may ask: its policy's `[ask]`, narrowed to what the caller's client
/// answers. Asking for more ends the call refused.
pub fn may_ask() -> Asking {
    CONTEXT.with(|c| {
        c.borrow().may_ask.unwrap_or(Asking {
            elicit_form: false,
            elicit_url: false,
            sample: false,
            list_roots: false,
        })
    })
}

/// True when this call continues an earlier round (it came back with answers and the state
/// the host sealed).
pub fn resumed() -> bool {
    CONTEXT.with(|c| c.borrow().resumed)
}

/// The answers to `requests`, once the caller has given them all; until then an error that
/// ends this round asking for those not answered yet (return it with `?`).
pub fn ask(requests: impl IntoIterator<Item = Request>) -> Result<Answers, Error> {
    let (answers, missing) = CONTEXT.with(|c| {
        let c = c.borrow();
        let mut answers = Answers::default();
        let mut missing = Vec::new();
        for r in requests {
            match c.answers.get(&r.key) {
                Some(a) => {
                    answers.answers.insert(r.key, a.clone());
                }
                None => missing.push(wit::KeyedRequest {
                    key: r.key,
                    request: r.request,
                }),
            }
        }
        (answers, missing)
    });
    if missing.is_empty() {
        Ok(answers)
    } else {
        Err(Error::Asking(missing))
    }
}
