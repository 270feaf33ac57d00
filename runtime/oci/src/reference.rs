//! `oci://` references: `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`.
//!
//! The host is always explicit: a reference without one is refused rather than read as Docker
//! Hub's, so a typo never sends a tool (or credentials) to a registry nobody named. Repository,
//! tag and digest follow the OCI distribution grammar.

use crate::error::OciError;

const SCHEME: &str = "oci://";

/// A parsed reference. With a digest, the digest is what is fetched; the tag only says where it
/// came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    /// `host` or `host:port`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:` and 64 lowercase hex digits.
    pub digest: Option<String>,
}

fn refuse(text: &str, why: &str) -> OciError {
    OciError::Reference(format!(
        "{text:?} is not an OCI reference ({why}); write oci://HOST[:PORT]/REPOSITORY:TAG or oci://HOST[:PORT]/REPOSITORY@sha256:DIGEST"
    ))
}

/// One path component of a repository: lowercase alphanumerics, separated by `.`, `_`, `__` or
/// runs of `-`.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn digest_ok(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x))
    })
}

/// A registry host: a DNS name, an IPv4 address or a bracketed IPv6 address, then an optional
/// port. It must look like a host (a dot, a port, or `localhost`) so it is never mistaken for
/// the first part of a repository.
fn host_ok(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (h, None),
    };
    if let Some(port) = port
        && (!port.bytes().all(|x| x.is_ascii_digit())
            || port.parse::<u16>().is_err()
            || port == "0")
    {
        return false;
    }
    let ipv6 = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    let name_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|x| x.is_ascii_alphanumeric() || x == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let looks_like_host = host.contains('.') || port.is_some() || host == "localhost" || ipv6;
    (ipv6
        && host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok())
        || (name_ok && looks_like_host)
}

impl OciRef {
    /// Parses `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`.
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| refuse(text, "it does not start with oci://"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) if digest_ok(d) => (r, Some(d.to_owned())),
            Some(_) => {
                return Err(refuse(
                    text,
                    "the digest is not sha256: and 64 lowercase hex digits",
                ));
            }
            None => (rest, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| refuse(text, "it names no repository"))?;
        if !host_ok(registry) {
            return Err(refuse(
                text,
                "it does not start with a registry host such as registry.example.com or localhost:5000",
            ));
        }
        // A colon after the last slash starts the tag.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (path, None),
        };
        if repository.is_empty() || !repository.split('/').all(component_ok) {
            return Err(refuse(
                text,
                "the repository must be lowercase letters, digits and . _ - separated by /",
            ));
        }
        if let Some(tag) = tag
            && !tag_ok(tag)
        {
            return Err(refuse(
                text,
                "the tag must be up to 128 of A-Z a-z 0-9 _ . -",
            ));
        }
        Ok(OciRef {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The same repository, pinned to `digest` (the tag kept as where it came from).
    pub fn pinned(&self, digest: &str) -> OciRef {
        OciRef {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// The same repository with this tag (and no digest).
    pub fn tagged(&self, tag: &str) -> OciRef {
        OciRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    pub(crate) fn client_ref(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                t.clone(),
                d.clone(),
            ),
            (None, Some(d)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.clone(),
            ),
            (tag, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".to_owned()),
            ),
        }
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_name_host_repository_and_tag_or_digest() {
        let r = OciRef::parse("oci://registry.example.com/team/echo:1.0.0").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.tag.as_deref(),
                r.digest
            ),
            ("registry.example.com", "team/echo", Some("1.0.0"), None)
        );
        let r = OciRef::parse(&format!("oci://127.0.0.1:5000/echo@{D}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.tag, r.digest.as_deref()),
            ("127.0.0.1:5000", None, Some(D))
        );
        let r = OciRef::parse(&format!("oci://localhost:5000/a/b-c/d__e:v1@{D}")).unwrap();
        assert_eq!(
            r.to_string(),
            format!("oci://localhost:5000/a/b-c/d__e:v1@{D}")
        );
        assert_eq!(
            OciRef::parse("oci://[::1]:5000/echo:1").unwrap().registry,
            "[::1]:5000"
        );
        assert_eq!(
            OciRef::parse("oci://localhost/echo")
                .unwrap()
                .client_ref()
                .to_string(),
            "localhost/echo:latest"
        );
        let pinned = r.tagged("v2").pinned(D);
        assert_eq!(pinned.tag.as_deref(), Some("v2"));
        assert_eq!(pinned.digest.as_deref(), Some(D));
    }

    #[test]
    fn anything_else_is_refused_with_the_form_to_write() {
        for bad in [
            "registry.example.com/echo:1",
            "oci://echo:1",
            "oci://team/echo:1",
            "oci://registry.example.com/",
            "oci://registry.example.com/Echo:1",
            "oci://registry.example.com/echo:",
            "oci://registry.example.com/echo:-x",
            "oci://registry.example.com/echo@sha256:abc",
            "oci://registry.example.com/echo@md5:0123",
            "oci://registry.example.com:99999/echo:1",
            "oci://registry.example.com:+500/echo:1",
            "oci://user:pw@registry.example.com/echo:1",
            "oci://registry.example.com/a//b:1",
            "oci://reg istry.example.com/echo:1",
            "oci://[zz]:5000/echo",
        ] {
            let e = OciRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("oci://HOST[:PORT]/REPOSITORY:TAG"), "{bad}: {e}");
        }
    }
}
