//! cordon's plain data: the limits a call runs under, the policy file that sets them and what
//! it grants (mounts, network, environment), and the outcome and usage report every call ends
//! with.
//!
//! Nothing here depends on wasmtime: policy is data, enforcement lives in `cordon-sandbox`. That
//! keeps these types cheap to test and lets the server, the CLI and the sandbox share them.

pub mod access;
pub mod ask;
pub mod authority;
pub mod credentials;
pub mod grants;
pub mod info;
pub mod json;
pub mod limits;
pub mod link;
pub mod log;
pub mod network;
pub mod outcome;
pub mod output;
pub mod policy;
pub mod progress;
pub mod quota;
pub mod reply;

pub use access::{Action, Role};
pub use ask::{AskPolicy, ElicitMode};
pub use grants::{Grants, Mount, REDACTED, redact};
pub use info::{Hints, TaskSupport, ToolInfo};
pub use limits::{LimitError, Limits};
pub use log::{LogLevel, LogMessage};
pub use outcome::{CredentialUse, Denial, DenialKind, Execution, Outcome, Usage};
pub use output::{Detector, Finding, OutputAction, OutputPolicy};
pub use policy::{Access, EnvSource, Policy, PolicyError};
pub use progress::Progress;
pub use quota::{QuotaKind, QuotaLimits};
pub use reply::{Ask, Asking, Content, Embedded, InputRequired, Resume, Toolbox};
