//! Who a client certificate is (`[[auth.mtls]]`, docs/identity.md "Client certificates"): each
//! entry names one thing a certificate says (its subject, a DNS name or a URI among its subject
//! alternative names), and the caller name and role its holder gets. Entries are tried in the
//! order written; the first that matches decides. A verified certificate that no entry matches
//! gets no identity: its request needs another credential.
//!
//! A value ending in `*` matches every value that begins with what precedes it
//! (`spiffe://acme.example/agents/*`); anything else matches exactly. Nothing else is a
//! pattern: a trust domain is a prefix, and a looser syntax would grant more than was meant.

use crate::tls::clients::PeerCertificate;
use cordon_core::Role;
use serde::Deserialize;

/// One `[[auth.mtls]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsEntry {
    /// The certificate's subject, as RFC 4514 writes it (`CN=agent-1,O=Acme`).
    #[serde(default)]
    pub subject: Option<String>,
    /// A DNS name among its subject alternative names.
    #[serde(default)]
    pub san_dns: Option<String>,
    /// A URI among its subject alternative names (`spiffe://acme.example/agents/a`).
    #[serde(default)]
    pub san_uri: Option<String>,
    /// The caller's name in the record and the console [default: the value matched].
    #[serde(default)]
    pub name: Option<String>,
    /// The role its holder gets.
    pub role: Role,
}

/// Why an `[[auth.mtls]]` entry cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtlsError {
    #[error(
        "auth.mtls entry {index}: give exactly one of subject, san_dns or san_uri (it gives {given})"
    )]
    NotOne { index: usize, given: usize },
    #[error(
        "auth.mtls entry {index}: {value:?} has `*` before its end; only a trailing `*` (a prefix) is a pattern"
    )]
    Star { index: usize, value: String },
    #[error("auth.mtls entry {index}: an empty value or a lone `*` would match every certificate")]
    Everything { index: usize },
}

/// What a matching entry makes of a certificate's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// `cert:subject:...`, `cert:dns:...` or `cert:uri:...`: the caller id in the record,
    /// the rate limits, the quotas and suspensions. The kind keeps a DNS name and a URI with
    /// the same text apart, and no key id or `issuer#subject` begins with `cert:`.
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// Every `[[auth.mtls]]` entry, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    entries: Vec<MtlsEntry>,
}

impl Mapping {
    pub fn new(entries: Vec<MtlsEntry>) -> Result<Mapping, MtlsError> {
        for (i, e) in entries.iter().enumerate() {
            let index = i + 1;
            let values: Vec<&String> = [&e.subject, &e.san_dns, &e.san_uri]
                .into_iter()
                .flatten()
                .collect();
            let [value] = values[..] else {
                return Err(MtlsError::NotOne {
                    index,
                    given: values.len(),
                });
            };
            let stem = value.strip_suffix('*').unwrap_or(value);
            if stem.contains('*') {
                return Err(MtlsError::Star {
                    index,
                    value: value.clone(),
                });
            }
            if stem.is_empty() {
                return Err(MtlsError::Everything { index });
            }
        }
        Ok(Mapping { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller the first matching entry makes of `cert`'s holder.
    pub fn identify(&self, cert: &PeerCertificate) -> Option<Matched> {
        self.entries.iter().find_map(|e| {
            let (kind, pattern, values): (&str, &str, &[String]) =
                match (&e.subject, &e.san_dns, &e.san_uri) {
                    (Some(p), _, _) => ("subject", p, std::slice::from_ref(&cert.subject)),
                    (_, Some(p), _) => ("dns", p, &cert.dns),
                    (_, _, Some(p)) => ("uri", p, &cert.uris),
                    _ => return None,
                };
            let found = first_match(pattern, values)?;
            Some(Matched {
                id: format!("cert:{kind}:{found}"),
                name: e.name.clone().unwrap_or_else(|| found.to_owned()),
                role: e.role,
            })
        })
    }
}

/// The first of `values` that `pattern` matches: a prefix and more for a trailing `*`, else
/// the whole value.
fn first_match<'a>(pattern: &str, values: &'a [String]) -> Option<&'a str> {
    let found = match pattern.strip_suffix('*') {
        Some(prefix) => values
            .iter()
            .find(|v| v.starts_with(prefix) && v.len() > prefix.len()),
        None => values.iter().find(|v| *v == pattern),
    };
    found.map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> PeerCertificate {
        PeerCertificate {
            fingerprint: "sha256:00".into(),
            subject: "CN=agent-1,O=Acme".into(),
            dns: vec!["agent.acme.internal".into()],
            uris: vec!["spiffe://acme.example/agents/a".into()],
            not_after_secs: 0,
        }
    }

    fn entry(subject: Option<&str>, dns: Option<&str>, uri: Option<&str>) -> MtlsEntry {
        MtlsEntry {
            subject: subject.map(str::to_owned),
            san_dns: dns.map(str::to_owned),
            san_uri: uri.map(str::to_owned),
            name: None,
            role: Role::Invoker,
        }
    }

    #[test]
    fn the_first_matching_entry_names_the_caller() {
        let m = Mapping::new(vec![
            entry(None, None, Some("spiffe://other.example/*")),
            MtlsEntry {
                name: Some("agents".into()),
                role: Role::Publisher,
                ..entry(None, None, Some("spiffe://acme.example/agents/*"))
            },
            entry(Some("CN=agent-1,O=Acme"), None, None),
        ])
        .unwrap();
        assert_eq!(
            m.identify(&cert()),
            Some(Matched {
                id: "cert:uri:spiffe://acme.example/agents/a".into(),
                name: "agents".into(),
                role: Role::Publisher,
            })
        );
        let by_subject = Mapping::new(vec![entry(Some("CN=agent-1,O=Acme"), None, None)]).unwrap();
        assert_eq!(
            by_subject.identify(&cert()).unwrap().id,
            "cert:subject:CN=agent-1,O=Acme"
        );
        let by_dns = Mapping::new(vec![entry(None, Some("agent.acme.internal"), None)]).unwrap();
        let matched = by_dns.identify(&cert()).unwrap();
        assert_eq!(
            (matched.id.as_str(), matched.name.as_str()),
            ("cert:dns:agent.acme.internal", "agent.acme.internal")
        );
    }

    #[test]
    fn near_misses_match_nothing() {
        for e in [
            // A subject is matched whole, not as a prefix.
            entry(Some("CN=agent-1"), None, None),
            // The DNS name as a URI, and the URI as a DNS name.
            entry(None, None, Some("agent.acme.internal")),
            entry(None, Some("spiffe://acme.example/agents/a"), None),
            // A prefix that is the whole value leaves nothing for the `*`.
            entry(None, None, Some("spiffe://acme.example/agents/a*")),
            entry(None, None, Some("spiffe://acme.example/agent/*")),
        ] {
            let m = Mapping::new(vec![e.clone()]).unwrap();
            assert_eq!(m.identify(&cert()), None, "{e:?}");
        }
    }

    #[test]
    fn entries_that_would_grant_more_than_written_are_refused() {
        assert_eq!(
            Mapping::new(vec![entry(Some("CN=a"), Some("a"), None)]),
            Err(MtlsError::NotOne { index: 1, given: 2 })
        );
        assert_eq!(
            Mapping::new(vec![entry(None, None, None)]),
            Err(MtlsError::NotOne { index: 1, given: 0 })
        );
        assert!(matches!(
            Mapping::new(vec![entry(None, Some("*.acme.internal"), None)]),
            Err(MtlsError::Star { index: 1, .. })
        ));
        for everything in ["*", ""] {
            assert_eq!(
                Mapping::new(vec![entry(None, None, Some(everything))]),
                Err(MtlsError::Everything { index: 1 })
            );
        }
    }
}
