//! What a tool's output is scanned for before it reaches its caller: the policy's `[output]`
//! section, and the findings a scan reports (`cordon-scan` does the scanning).
//!
//! ```toml
//! [output]
//! scan = ["secrets", "pii", "injection"]
//! action = "redact"   # or "flag", "block"
//! ```
//!
//! Nothing is scanned unless the policy asks: a tool without `[output]` pays nothing. When it
//! asks and names no action, matches are redacted: of the three, the one that neither passes a
//! leaked secret on (`flag`) nor loses the rest of the answer (`block`).

use serde::{Deserialize, Serialize};

/// A family of detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Private-key blocks, JWTs, cloud and code-host token formats, and high-entropy values
    /// next to key-like names.
    Secrets,
    /// E-mail addresses, phone numbers, payment card numbers (Luhn-checked), IBANs (checksum
    /// checked).
    Pii,
    /// Instructions aimed at the model, hidden Unicode, and links that would make a client
    /// send data to a host the tool was not allowed to reach.
    Injection,
}

impl Detector {
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Secrets => "secrets",
            Detector::Pii => "pii",
            Detector::Injection => "injection",
        }
    }
}

/// What a scan that finds something does to the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputAction {
    /// Keeps the output and reports the findings beside it.
    Flag,
    /// Replaces each match with `[REDACTED:kind]` and reports the findings.
    #[default]
    Redact,
    /// Withholds the output: outcome `blocked`, the findings and no content.
    Block,
}

impl OutputAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputAction::Flag => "flag",
            OutputAction::Redact => "redact",
            OutputAction::Block => "block",
        }
    }
}

/// The `[output]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPolicy {
    /// The detectors to run; none: the output is not scanned.
    #[serde(default)]
    pub scan: Vec<Detector>,
    #[serde(default)]
    pub action: OutputAction,
}

impl OutputPolicy {
    /// Whether anything is scanned.
    pub fn scans(&self) -> bool {
        !self.scan.is_empty()
    }
}

/// What a scan found at one place of the output: its kind, where (a JSON path into the answer:
/// `$.output.user.email`, `$.content[0].text`), how many matches, and how likely it is to be
/// what it looks like (0 to 1). Never the matched value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    /// `secrets`, `pii` or `injection`.
    pub detector: String,
    /// What was found: `private_key`, `jwt`, `aws_access_key`, `card_number`, `email`,
    /// `instruction`, `hidden_unicode`, `exfiltration_link`... (docs/detection.md lists them).
    pub kind: String,
    pub path: String,
    pub count: u32,
    pub risk: f64,
}
