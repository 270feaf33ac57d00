//! A request to the guard: a tunnel (`CONNECT host:port`) or one plain-HTTP `GET`/`HEAD` in
//! absolute form, with the proxy credential it carries.

/// A proxy request: a tunnel (`CONNECT host:port`) or one plain-HTTP `GET`/`HEAD` in absolute
/// form, rewritten to origin form with `Connection: close`.
pub(super) struct Request {
    /// The host as the client named it (an IPv6 address without its brackets).
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tunnel: bool,
    /// For a forwarded request, its absolute URL as the client sent it (`http://host/path`).
    pub(super) target: String,
    /// For a forwarded request, the head to send upstream.
    pub(super) forward: Vec<u8>,
    /// The `Proxy-Authorization` value the client sent.
    pub(super) credential: Option<String>,
    /// Whether a forwarded request carries `Authorization` (credentials for the destination).
    pub(super) authorization: bool,
}

impl Request {
    /// `host:port` (`[v6]:port`), as errors name the destination.
    pub(super) fn destination(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub(super) fn parse(head: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        let name_of = |line: &str| line.split(':').next().unwrap_or("").trim().to_owned();
        let credential = headers
            .iter()
            .find(|l| name_of(l).eq_ignore_ascii_case("proxy-authorization"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned());
        let authorization = headers
            .iter()
            .any(|l| name_of(l).eq_ignore_ascii_case("authorization"));
        let (method, target, version) = (first.next()?, first.next()?, first.next()?);
        if first.next().is_some() || !version.starts_with("HTTP/1.") {
            return None;
        }
        if method == "CONNECT" {
            let (host, port) = split_authority(target, None)?;
            return Some(Request {
                host,
                port,
                tunnel: true,
                target: String::new(),
                forward: Vec::new(),
                credential,
                authorization,
            });
        }
        if method != "GET" && method != "HEAD" {
            return None;
        }
        let rest = target.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_authority(authority, Some(80))?;
        let mut forward = format!("{method} {path} HTTP/1.1\r\n");
        for line in headers {
            let name = name_of(line);
            let hop = [
                "connection",
                "proxy-connection",
                "keep-alive",
                "proxy-authorization",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
            if !hop {
                forward.push_str(line);
                forward.push_str("\r\n");
            }
        }
        forward.push_str("Connection: close\r\n\r\n");
        Some(Request {
            host,
            port,
            tunnel: false,
            target: target.to_owned(),
            forward: forward.into_bytes(),
            credential,
            authorization,
        })
    }
}

/// `host:port`, `[v6]:port`, or (with a default port) a bare host.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port?,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_a_tunnel_or_one_plain_get() {
        let connect = Request::parse(
            b"CONNECT ghcr.io:443 HTTP/1.1\r\nHost: ghcr.io:443\r\nProxy-Authorization: Basic abc\r\n\r\n",
        )
        .expect("connect");
        assert!(connect.tunnel);
        assert_eq!(connect.credential.as_deref(), Some("Basic abc"));
        assert_eq!((connect.host.as_str(), connect.port), ("ghcr.io", 443));
        let v6 = Request::parse(b"CONNECT [::1]:5000 HTTP/1.1\r\n\r\n").expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 5000));
        assert_eq!(v6.destination(), "[::1]:5000");
        assert_eq!(connect.destination(), "ghcr.io:443");

        let get = Request::parse(
            b"GET http://reg.local:5000/v2/a/manifests/1 HTTP/1.1\r\nHost: reg.local:5000\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic abc\r\nAccept: */*\r\n\r\n",
        )
        .expect("get");
        assert!(!get.tunnel);
        assert_eq!(get.credential.as_deref(), Some("Basic abc"));
        assert_eq!((get.host.as_str(), get.port), ("reg.local", 5000));
        assert_eq!(get.target, "http://reg.local:5000/v2/a/manifests/1");
        assert_eq!(
            String::from_utf8(get.forward).unwrap(),
            "GET /v2/a/manifests/1 HTTP/1.1\r\nHost: reg.local:5000\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let default_port = Request::parse(b"HEAD http://reg.local/v2/ HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(default_port.port, 80);
        assert_eq!(default_port.credential, None);

        for refused in [
            &b"POST http://reg.local/v2/ HTTP/1.1\r\n\r\n"[..],
            b"GET /v2/ HTTP/1.1\r\n\r\n",
            b"GET https://reg.local/v2/ HTTP/1.1\r\n\r\n",
            b"GET http://user@reg.local/ HTTP/1.1\r\n\r\n",
            b"CONNECT reg.local HTTP/1.1\r\n\r\n",
            b"CONNECT reg.local:99999 HTTP/1.1\r\n\r\n",
            b"CONNECT :443 HTTP/1.1\r\n\r\n",
            b"GET http://reg.local/ HTTP/2 extra\r\n\r\n",
            b"\xff\xfe",
        ] {
            assert!(Request::parse(refused).is_none(), "{refused:?}");
        }
    }
}
