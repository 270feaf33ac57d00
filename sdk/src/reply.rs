//! What a tool returns besides plain JSON: content blocks (text, images, audio, resource links,
//! embedded resources) with or without structured output.

use crate::__private::bindings::cordon::tool::types as wit;
use schemars::JsonSchema;
use serde::Serialize;

/// A result of content blocks, with structured output beside them when `O` is not `()`.
///
/// ```ignore
/// #[cordon_sdk::tool(description = "Draws a chart")]
/// fn chart(input: Input) -> Result<Reply, Error> {
///     let png = draw(&input)?;
///     Ok(Reply::new().text("the chart:").image(png, "image/png"))
/// }
/// ```
///
/// Every block counts against the policy's `max_output_bytes`, binary data as the base64 the
/// caller receives.
#[derive(Debug, Clone, Default)]
pub struct Reply<O = ()> {
    structured: Option<O>,
    content: Vec<wit::Content>,
}

impl Reply<()> {
    /// A result with no blocks yet and no structured output.
    pub fn new() -> Self {
        Reply {
            structured: None,
            content: Vec::new(),
        }
    }
}

impl<O> Reply<O> {
    /// A result with structured output `output` (its schema is the tool's output schema).
    pub fn structured(output: O) -> Self {
        Reply {
            structured: Some(output),
            content: Vec::new(),
        }
    }

    /// Adds a text block.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.content.push(wit::Content::Text(text.into()));
        self
    }

    /// Adds an image (`image/png`, `image/jpeg`, `image/svg+xml`, ...).
    pub fn image(mut self, data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        self.content.push(wit::Content::Image(wit::Media {
            data: data.into(),
            mime_type: mime_type.into(),
        }));
        self
    }

    /// Adds audio (`audio/wav`, `audio/mpeg`, ...).
    pub fn audio(mut self, data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        self.content.push(wit::Content::Audio(wit::Media {
            data: data.into(),
            mime_type: mime_type.into(),
        }));
        self
    }

    /// Adds a link to a resource the caller may fetch itself.
    pub fn resource_link(mut self, link: ResourceLink) -> Self {
        self.content
            .push(wit::Content::ResourceLink(wit::ResourceLink {
                uri: link.uri,
                name: link.name,
                title: link.title,
                description: link.description,
                mime_type: link.mime_type,
                size: link.size,
            }));
        self
    }

    /// Adds a resource's text, carried in the result.
    pub fn embedded_text(
        mut self,
        uri: impl Into<String>,
        mime_type: Option<&str>,
        text: impl Into<String>,
    ) -> Self {
        self.content
            .push(wit::Content::EmbeddedText(wit::EmbeddedText {
                uri: uri.into(),
                mime_type: mime_type.map(str::to_owned),
                text: text.into(),
            }));
        self
    }

    /// Adds a resource's bytes, carried in the result.
    pub fn embedded_blob(
        mut self,
        uri: impl Into<String>,
        mime_type: Option<&str>,
        blob: impl Into<Vec<u8>>,
    ) -> Self {
        self.content
            .push(wit::Content::EmbeddedBlob(wit::EmbeddedBlob {
                uri: uri.into(),
                mime_type: mime_type.map(str::to_owned),
                blob: blob.into(),
            }));
        self
    }
}

/// A link to a resource: its URI and name, and what else is known about it.
#[derive(Debug, Clone, Default)]
pub struct ResourceLink {
    pub uri: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
}

impl ResourceLink {
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceLink {
            uri: uri.into(),
            name: name.into(),
            ..ResourceLink::default()
        }
    }
}

/// What a tool function may return: any serializable value with a JSON Schema (the structured
/// output), or a [`Reply`].
pub trait ToolOutput {
    /// The output schema the tool declares, if any.
    fn output_schema() -> Option<serde_json::Value>;
    /// The finished call's answer.
    fn into_complete(self) -> Result<wit::Complete, crate::Error>;
}

fn json_text<T: Serialize>(value: &T) -> Result<String, crate::Error> {
    serde_json::to_string(value)
        .map_err(|e| crate::Error::failed(format!("cannot serialize the output: {e}")))
}

fn schema_of<T: JsonSchema>() -> Option<serde_json::Value> {
    let schema = crate::__private::standard(schemars::schema_for!(T).to_value());
    // `()`: no structured output.
    (schema.get("type") != Some(&serde_json::json!("null"))).then_some(schema)
}

impl<T: Serialize + JsonSchema> ToolOutput for T {
    fn output_schema() -> Option<serde_json::Value> {
        schema_of::<T>()
    }
    fn into_complete(self) -> Result<wit::Complete, crate::Error> {
        Ok(wit::Complete {
            structured: Some(json_text(&self)?),
            content: Vec::new(),
        })
    }
}

impl<O: Serialize + JsonSchema> ToolOutput for Reply<O> {
    fn output_schema() -> Option<serde_json::Value> {
        schema_of::<O>()
    }
    fn into_complete(self) -> Result<wit::Complete, crate::Error> {
        Ok(wit::Complete {
            structured: self.structured.as_ref().map(json_text).transpose()?,
            content: self.content,
        })
    }
}
