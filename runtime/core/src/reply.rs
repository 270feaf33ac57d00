//! What a tool of contract 0.2.0 says about itself and returns besides structured JSON: its
//! toolbox (one component, several tools), and the content blocks of a result, in the JSON
//! shape MCP gives them (binary data as base64), so REST and MCP answers carry the same bytes
//! the record's hash covers.

use serde::{Deserialize, Serialize};

/// What a component says it is: the name and version it is signed and published under, and
/// its tools, which share that version and the component's policy. A component of contract
/// 0.1.0 is a toolbox of one tool named like it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toolbox {
    pub name: String,
    pub version: String,
    pub description: String,
    pub tools: Vec<crate::ToolInfo>,
}

impl Toolbox {
    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&crate::ToolInfo> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// One block of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        /// The bytes, base64 (standard alphabet, padded).
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    Audio {
        /// The bytes, base64 (standard alphabet, padded).
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    ResourceLink {
        uri: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, rename = "mimeType", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// An embedded resource.
    Resource {
        resource: Embedded,
    },
}

/// An embedded resource's contents: text, or bytes as base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Embedded {
    Text {
        uri: String,
        #[serde(default, rename = "mimeType", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        text: String,
    },
    Blob {
        uri: String,
        #[serde(default, rename = "mimeType", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// The bytes, base64 (standard alphabet, padded).
        blob: String,
    },
}

impl Content {
    /// Every piece of text a person or model reads in this block (not base64 data), for
    /// redaction.
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Content::Text { text } => vec![text],
            Content::Image { mime_type, .. } | Content::Audio { mime_type, .. } => {
                vec![mime_type]
            }
            Content::ResourceLink {
                uri,
                name,
                title,
                description,
                mime_type,
                ..
            } => {
                let mut all = vec![uri, name];
                all.extend(title.as_mut());
                all.extend(description.as_mut());
                all.extend(mime_type.as_mut());
                all
            }
            Content::Resource {
                resource:
                    Embedded::Text {
                        uri,
                        mime_type,
                        text,
                    },
            } => {
                let mut all = vec![uri, text];
                all.extend(mime_type.as_mut());
                all
            }
            Content::Resource {
                resource: Embedded::Blob { uri, mime_type, .. },
            } => {
                let mut all = vec![uri];
                all.extend(mime_type.as_mut());
                all
            }
        }
    }
}

/// What a call may ask of the caller's client: what its policy grants, narrowed to what the
/// client can answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asking {
    pub elicit_form: bool,
    pub elicit_url: bool,
    pub sample: bool,
    pub list_roots: bool,
}

impl Asking {
    /// Everything (a client that answers all of it).
    pub const ALL: Asking = Asking {
        elicit_form: true,
        elicit_url: true,
        sample: true,
        list_roots: true,
    };

    /// What both allow.
    pub fn and(self, other: Asking) -> Asking {
        Asking {
            elicit_form: self.elicit_form && other.elicit_form,
            elicit_url: self.elicit_url && other.elicit_url,
            sample: self.sample && other.sample,
            list_roots: self.list_roots && other.list_roots,
        }
    }

    /// Whether `ask` is among what this allows.
    pub fn allows(self, ask: &Ask) -> bool {
        match ask {
            Ask::ElicitForm { .. } => self.elicit_form,
            Ask::ElicitUrl { .. } => self.elicit_url,
            Ask::Sample { .. } => self.sample,
            Ask::ListRoots => self.list_roots,
        }
    }
}

/// One thing a tool asks of the caller's client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ask {
    /// A form for the user (`elicitation/create`, form mode).
    ElicitForm {
        message: String,
        requested_schema: serde_json::Value,
    },
    /// A page for the user to open (`elicitation/create`, URL mode).
    ElicitUrl {
        message: String,
        url: String,
        elicitation_id: String,
    },
    /// A completion from the client's model (`sampling/createMessage` params).
    Sample { params: serde_json::Value },
    /// The client's roots (`roots/list`).
    ListRoots,
}

impl Ask {
    /// The MCP request that carries it: `{"method": ..., "params": ...}`.
    pub fn to_mcp(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Ask::ElicitForm {
                message,
                requested_schema,
            } => json!({
                "method": "elicitation/create",
                "params": {"mode": "form", "message": message, "requestedSchema": requested_schema},
            }),
            Ask::ElicitUrl {
                message,
                url,
                elicitation_id,
            } => json!({
                "method": "elicitation/create",
                "params": {"mode": "url", "message": message, "url": url, "elicitationId": elicitation_id},
            }),
            Ask::Sample { params } => json!({"method": "sampling/createMessage", "params": params}),
            Ask::ListRoots => json!({"method": "roots/list", "params": {}}),
        }
    }

    /// The client capability an answer needs, as MCP names it.
    pub fn capability(&self) -> &'static str {
        match self {
            Ask::ElicitForm { .. } | Ask::ElicitUrl { .. } => "elicitation",
            Ask::Sample { .. } => "sampling",
            Ask::ListRoots => "roots",
        }
    }
}

/// A round that ended asking: the requests under their keys, and the tool's own state (which
/// the host seals before it leaves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRequired {
    pub requests: Vec<(String, Ask)>,
    /// The tool's state, opaque; never shown to the caller as it is.
    #[serde(skip)]
    pub state: Vec<u8>,
}

/// The answers of a round, and the state its tool left: what the next round's tool gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// Each answer under its request's key: the client's result as JSON.
    pub responses: Vec<(String, serde_json::Value)>,
    pub state: Vec<u8>,
    /// Tokens of sampling the call's earlier rounds asked for (`maxTokens`, summed): what is
    /// left of the policy's per-call budget is the rest.
    pub sampled_tokens: u64,
}

/// The form the record's `output_sha256` covers: the output alone as compact JSON when there
/// are no content blocks (as for every tool of contract 0.1.0), else
/// `{"content":[...],"output":...}` as compact JSON.
pub fn answered(output: Option<&serde_json::Value>, content: &[Content]) -> Option<String> {
    if content.is_empty() {
        return output.map(serde_json::Value::to_string);
    }
    let both = serde_json::json!({
        "content": content,
        "output": output,
    });
    Some(both.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_have_the_shape_mcp_gives_them() {
        let blocks = vec![
            Content::Text { text: "hi".into() },
            Content::Image {
                data: "iVBO".into(),
                mime_type: "image/png".into(),
            },
            Content::ResourceLink {
                uri: "file:///a".into(),
                name: "a".into(),
                title: None,
                description: None,
                mime_type: Some("text/plain".into()),
                size: None,
            },
            Content::Resource {
                resource: Embedded::Blob {
                    uri: "test://b".into(),
                    mime_type: None,
                    blob: "AA==".into(),
                },
            },
        ];
        let shown = serde_json::to_value(&blocks).unwrap();
        assert_eq!(
            shown,
            json!([
                {"type": "text", "text": "hi"},
                {"type": "image", "data": "iVBO", "mimeType": "image/png"},
                {"type": "resource_link", "uri": "file:///a", "name": "a", "mimeType": "text/plain"},
                {"type": "resource", "resource": {"uri": "test://b", "blob": "AA=="}},
            ])
        );
        let back: Vec<Content> = serde_json::from_value(shown).unwrap();
        assert_eq!(back, blocks);
    }

    #[test]
    fn the_hashed_form_is_the_output_alone_without_content() {
        let output = json!({"b": 1, "a": 2});
        assert_eq!(
            answered(Some(&output), &[]).as_deref(),
            Some(r#"{"a":2,"b":1}"#)
        );
        assert_eq!(answered(None, &[]), None);
        let text = [Content::Text { text: "x".into() }];
        assert_eq!(
            answered(None, &text).as_deref(),
            Some(r#"{"content":[{"text":"x","type":"text"}],"output":null}"#)
        );
    }
}
