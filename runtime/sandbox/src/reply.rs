//! What a component's exports return, in one form for both contract versions: its toolbox
//! (checked here) and a call's answer, with content blocks turned into cordon's own
//! [`cordon_core::Content`] (binary data as base64, as MCP carries it).

use crate::bindings::{v01, v02};
use crate::error::DescribeError;
use base64::Engine as _;
use cordon_core::{Content, Embedded, ToolInfo, Toolbox};
use v02::cordon::tool::types as wit;

/// Most tools one component may declare: a toolbox, not a catalogue. Bounds the work and the
/// storage one publish can cause.
const MAX_TOOLS: usize = 256;

/// Longest tool name MCP allows.
const MAX_NAME_BYTES: usize = 128;

/// `describe()`'s answer, of either contract.
pub(crate) enum Described {
    V01(v01::exports::cordon::tool::tool::Info),
    V02(wit::Toolbox),
}

/// A call's answer, of either contract.
pub(crate) enum Answer {
    Complete {
        structured: Option<String>,
        content: Vec<wit::Content>,
    },
    /// The tool asked for input (contract 0.2.0).
    InputRequired(wit::InputRequired),
}

/// A call's refusal, of either contract.
pub(crate) enum GuestError {
    InvalidInput(String),
    Failed(String),
}

pub(crate) fn from_v01(
    r: Result<String, v01::exports::cordon::tool::tool::Error>,
) -> Result<Answer, GuestError> {
    use v01::exports::cordon::tool::tool::Error;
    match r {
        Ok(output) => Ok(Answer::Complete {
            structured: Some(output),
            content: Vec::new(),
        }),
        Err(Error::InvalidInput(m)) => Err(GuestError::InvalidInput(m)),
        Err(Error::Failed(m)) => Err(GuestError::Failed(m)),
    }
}

pub(crate) fn from_v02(r: Result<wit::Reply, wit::Error>) -> Result<Answer, GuestError> {
    match r {
        Ok(wit::Reply::Complete(c)) => Ok(Answer::Complete {
            structured: c.structured,
            content: c.content,
        }),
        Ok(wit::Reply::InputRequired(asked)) => Ok(Answer::InputRequired(asked)),
        Err(wit::Error::InvalidInput(m)) => Err(GuestError::InvalidInput(m)),
        Err(wit::Error::Failed(m)) => Err(GuestError::Failed(m)),
    }
}

/// The toolbox `describe()` says, checked: at least one tool, names MCP accepts and no two
/// alike, schemas that are JSON.
pub(crate) fn toolbox(described: Described) -> Result<Toolbox, DescribeError> {
    let parse = |field, text: &str| {
        serde_json::from_str(text).map_err(|e| DescribeError::BadSchema {
            field,
            message: e.to_string(),
        })
    };
    let toolbox = match described {
        Described::V01(info) => Toolbox {
            tools: vec![ToolInfo {
                input_schema: parse("input-schema", &info.input_schema)?,
                output_schema: info
                    .output_schema
                    .as_deref()
                    .map(|s| parse("output-schema", s))
                    .transpose()?,
                name: info.name.clone(),
                version: info.version.clone(),
                title: None,
                description: info.description.clone(),
                hints: None,
                task_support: cordon_core::TaskSupport::Optional,
            }],
            name: info.name,
            version: info.version,
            description: info.description,
        },
        Described::V02(t) => {
            let tools = t
                .tools
                .into_iter()
                .map(|tool| {
                    Ok(ToolInfo {
                        input_schema: parse("input-schema", &tool.input_schema)?,
                        output_schema: tool
                            .output_schema
                            .as_deref()
                            .map(|s| parse("output-schema", s))
                            .transpose()?,
                        name: tool.name,
                        version: t.version.clone(),
                        title: tool.title,
                        description: tool.description,
                        hints: tool.hints.map(|h| cordon_core::Hints {
                            read_only: h.read_only,
                            destructive: h.destructive,
                            idempotent: h.idempotent,
                            open_world: h.open_world,
                        }),
                        task_support: match tool.task_support {
                            wit::TaskSupport::Forbidden => cordon_core::TaskSupport::Forbidden,
                            wit::TaskSupport::Optional => cordon_core::TaskSupport::Optional,
                            wit::TaskSupport::Required => cordon_core::TaskSupport::Required,
                        },
                    })
                })
                .collect::<Result<Vec<_>, DescribeError>>()?;
            Toolbox {
                name: t.name,
                version: t.version,
                description: t.description,
                tools,
            }
        }
    };
    if toolbox.tools.is_empty() {
        return Err(DescribeError::Invalid("it declares no tool".to_owned()));
    }
    if toolbox.tools.len() > MAX_TOOLS {
        return Err(DescribeError::Invalid(format!(
            "it declares {} tools, more than the {MAX_TOOLS} one component may",
            toolbox.tools.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for tool in &toolbox.tools {
        let name = &tool.name;
        let fits = !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !fits {
            return Err(DescribeError::Invalid(format!(
                "tool name {name:?} is not 1 to {MAX_NAME_BYTES} of A-Z a-z 0-9 _ - ."
            )));
        }
        if !seen.insert(name.as_str()) {
            return Err(DescribeError::Invalid(format!(
                "two tools are named {name:?}"
            )));
        }
    }
    Ok(toolbox)
}

/// Content blocks as cordon's type, bytes as base64.
pub(crate) fn content(blocks: Vec<wit::Content>) -> Vec<Content> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    blocks
        .into_iter()
        .map(|block| match block {
            wit::Content::Text(text) => Content::Text { text },
            wit::Content::Image(m) => Content::Image {
                data: b64(&m.data),
                mime_type: m.mime_type,
            },
            wit::Content::Audio(m) => Content::Audio {
                data: b64(&m.data),
                mime_type: m.mime_type,
            },
            wit::Content::ResourceLink(l) => Content::ResourceLink {
                uri: l.uri,
                name: l.name,
                title: l.title,
                description: l.description,
                mime_type: l.mime_type,
                size: l.size,
            },
            wit::Content::EmbeddedText(e) => Content::Resource {
                resource: Embedded::Text {
                    uri: e.uri,
                    mime_type: e.mime_type,
                    text: e.text,
                },
            },
            wit::Content::EmbeddedBlob(e) => Content::Resource {
                resource: Embedded::Blob {
                    uri: e.uri,
                    mime_type: e.mime_type,
                    blob: b64(&e.blob),
                },
            },
        })
        .collect()
}

/// Longest request key: a name, not data.
const MAX_KEY_BYTES: usize = 64;

/// What the tool asked, checked for shape (keys unique and plain, schemas and sampling
/// parameters JSON objects): the requests, or why they cannot be passed on.
pub(crate) fn asked(asked: wit::InputRequired) -> Result<cordon_core::InputRequired, String> {
    use cordon_core::Ask;
    let object = |what: &str, text: &str| match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(format!(
            "the tool asked with a {what} that is not a JSON object"
        )),
    };
    if asked.requests.is_empty() {
        return Err("the tool asked for input but made no request".to_owned());
    }
    let mut seen = std::collections::HashSet::new();
    let mut requests = Vec::with_capacity(asked.requests.len());
    for wit::KeyedRequest { key, request } in asked.requests {
        let plain = !key.is_empty()
            && key.len() <= MAX_KEY_BYTES
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !plain {
            return Err(format!(
                "request key {key:?} is not 1 to {MAX_KEY_BYTES} of A-Z a-z 0-9 _ - ."
            ));
        }
        if !seen.insert(key.clone()) {
            return Err(format!("two requests have the key {key:?}"));
        }
        let ask = match request {
            wit::InputRequest::ElicitForm(f) => Ask::ElicitForm {
                message: f.message,
                requested_schema: object("requested schema", &f.requested_schema)?,
            },
            wit::InputRequest::ElicitUrl(u) => Ask::ElicitUrl {
                message: u.message,
                url: u.url,
                elicitation_id: u.elicitation_id,
            },
            wit::InputRequest::Sample(params) => Ask::Sample {
                params: object("sampling request", &params)?,
            },
            wit::InputRequest::ListRoots => Ask::ListRoots,
        };
        requests.push((key, ask));
    }
    Ok(cordon_core::InputRequired {
        requests,
        state: asked.state,
    })
}

/// The call's context for the guest: what it may ask, and the previous round's answers.
pub(crate) fn context(grants: &cordon_core::Grants) -> wit::CallContext {
    let may = grants.ask.asking().and(grants.client_asking);
    wit::CallContext {
        may_ask: wit::Asking {
            elicit_form: may.elicit_form,
            elicit_url: may.elicit_url,
            sample: may.sample,
            list_roots: may.list_roots,
        },
        resume: grants.resume.as_ref().map(|r| wit::Resume {
            responses: r
                .responses
                .iter()
                .map(|(key, response)| wit::InputResponse {
                    key: key.clone(),
                    response: response.to_string(),
                })
                .collect(),
            state: r.state.clone(),
        }),
    }
}
