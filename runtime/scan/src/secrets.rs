//! `secrets`: credentials in a known format, and generated-looking values next to key-like
//! names.
//!
//! The formats are the ones issuers document, so that a match is almost always real:
//! PEM/OpenSSH private-key blocks, JWTs (three base64url parts, the first two JSON objects),
//! AWS access key ids, GitHub, GitLab and Slack tokens, Stripe live keys, Google API keys,
//! OpenAI and Anthropic keys. A secret without a format (a database password) is found only
//! next to a name that says what it is (`password=`, `"api_key": ...`) and only when it looks
//! generated (`checks::secret_like`): `password: hunter2` is not found.

use crate::pattern::Pattern;

/// The names that say a value is a secret, as a regular expression (case-insensitive).
pub(crate) const SECRET_NAMES: &str = r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|bearer|credentials?)";

pub(crate) fn patterns() -> Vec<Pattern> {
    vec![
        Pattern::new(
            "private_key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
            1.0,
        ),
        Pattern::new(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
            0.8,
        ),
        Pattern::new("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", 0.9),
        Pattern::new(
            "github_token",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})\b",
            0.95,
        ),
        Pattern::new("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}", 0.95),
        Pattern::new("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0.9),
        Pattern::new("stripe_key", r"\b[rs]k_live_[A-Za-z0-9]{16,}\b", 0.95),
        Pattern::new("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}", 0.85),
        // Before OpenAI's: an Anthropic key starts `sk-` too, and the earlier pattern wins.
        Pattern::new("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{32,}", 0.95),
        Pattern::new(
            "openai_key",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}",
            0.9,
        ),
        Pattern::new(
            "secret_assignment",
            &format!(
                r#"(?i){SECRET_NAMES}["']?\s*[:=]\s*["']?(?P<value>[A-Za-z0-9+/=_.~!@#$%^&*-]{{12,}})"#
            ),
            0.6,
        )
        .validated(crate::checks::secret_like),
    ]
}
