//! Outbound HTTP under a call's network policy: the one place every `wasi:http` request passes.
//!
//! In order: the per-call request count; scheme, host and port against the allow list (on the
//! parsed authority, never the URL text); then the host resolves the name itself (IP literals,
//! including odd IPv4 spellings, are never sent to a resolver) and refuses the request if *any*
//! address is not publicly routable, unless the policy opens that range; then it connects to the
//! vetted address itself, so there is no second lookup a DNS rebinding could race. TLS checks
//! the certificate against the host name. Redirects are never followed here: a 3xx goes back to
//! the guest, and following it is a new request, checked again. Response bodies are capped.
//!
//! Every refusal is recorded as a denial for the usage report and logged as a security event.
//!
//! Credentials (`[[network.credentials]]`): once a request has passed every check above and is
//! about to be sent, the host adds the policy's header for exactly that scheme, host (as the
//! guest wrote it) and port, replacing (and recording) one the guest set itself. The value goes
//! on the wire only: responses are redacted of every secret before the guest reads them.

use crate::client_span::{ClientSpan, in_context};
use crate::redact_body::{RedactingBody, redact_headers};
use crate::resolver::Resolver;
use bytes::Bytes;
use cordon_core::credentials::ResolvedCredential;
use cordon_core::network::{
    NetworkDenial, NetworkPolicy, Scheme, normalize_host, parse_ipv4_loose,
};
use cordon_core::{CredentialUse, Denial, DenialKind};
use http_body::{Body, Frame};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// What the network did during one call, read into the usage report afterwards.
#[derive(Debug, Default)]
pub(crate) struct NetLog {
    pub(crate) requests: u64,
    pub(crate) denials: Vec<Denial>,
    pub(crate) credentials: Vec<CredentialUse>,
}

impl NetLog {
    fn attached(&mut self, c: &ResolvedCredential) {
        let destination = c.destination();
        match self
            .credentials
            .iter_mut()
            .find(|u| u.destination == destination && u.header == c.header)
        {
            Some(used) => used.requests += 1,
            None => self.credentials.push(CredentialUse {
                destination,
                header: c.header.clone(),
                secrets: c.secret_names.clone(),
                requests: 1,
            }),
        }
    }
}

/// Shared between the hook (which records) and the call (which reports).
pub(crate) type SharedLog = Arc<Mutex<NetLog>>;

/// The `wasi:http` hook of one call.
pub(crate) struct Outbound {
    pub(crate) policy: NetworkPolicy,
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) log: SharedLog,
    pub(crate) max_requests: u64,
    pub(crate) max_response_bytes: u64,
    pub(crate) deadline: Instant,
    /// Headers to attach, each for one destination.
    pub(crate) credentials: Vec<ResolvedCredential>,
    /// Secret values redacted from every response the guest reads (empty: nothing to scan).
    pub(crate) redact: Arc<Vec<Vec<u8>>>,
    /// Roots for TLS (the public web's, plus any the sandbox was configured with).
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

fn deny(log: &SharedLog, target: &str, reason: String) {
    tracing::warn!(target: "cordon::security", kind = "network", target_url = target, reason, "request denied");
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .denials
        .push(Denial {
            kind: DenialKind::Network,
            target: target.to_owned(),
            reason,
        });
}

impl wasmtime_wasi_http::WasiHttpHooks for Outbound {
    /// Every scheme reaches `send_request`, which refuses all but http and https there: a
    /// refusal made here would leave no denial and no request count in the usage report.
    fn is_supported_scheme(&mut self, _scheme: &http::uri::Scheme) -> bool {
        true
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri().clone();
        let scheme = uri.scheme_str().and_then(Scheme::parse);
        let authority = uri.authority().cloned();
        let target = shown(&uri);
        let log = self.log.clone();
        // The request's client span (docs/observability.md), a child of the call's span when
        // the server makes spans: where it went and how it ended, never a header or body.
        let span = ClientSpan::start(request.method(), authority.as_ref());
        let denied = |reason: &'static str| {
            span.set("cordon.denial", reason);
            span.set("error.type", "denied");
        };
        let count = {
            let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
            l.requests += 1;
            l.requests
        };
        if count > self.max_requests {
            denied("request limit");
            deny(
                &log,
                &target,
                format!("request limit of {} reached", self.max_requests),
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let (Some(scheme), Some(authority)) = (scheme, authority) else {
            let reason = match uri.scheme_str() {
                Some(other) if scheme.is_none() => {
                    format!("scheme {other:?} is not allowed (only http and https)")
                }
                _ => "not an absolute http(s) URL".to_owned(),
            };
            denied("scheme");
            deny(&log, &target, reason);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        if authority.as_str().contains('@') {
            deny(
                &log,
                &target,
                "user information in the URL is not allowed".into(),
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let host = normalize_host(authority.host());
        let port = authority.port_u16().unwrap_or(scheme.default_port());
        if let Err(denial) = self.policy.check_destination(scheme, &host, port) {
            denied("not allowed");
            deny(&log, &target, denial.to_string());
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // The host exactly as written (case aside): a trailing dot or another spelling of the
        // same address is another destination, which gets no credential.
        let written = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let credentials: Vec<ResolvedCredential> = self
            .credentials
            .iter()
            .filter(|c| c.matches(scheme, written, port))
            .cloned()
            .collect();
        for c in &credentials {
            if request.headers().contains_key(c.header.as_str()) {
                request.headers_mut().remove(c.header.as_str());
                deny(
                    &log,
                    &target,
                    format!(
                        "the tool set the {} header itself; the host replaced it with the policy's credential for {}",
                        c.header,
                        c.destination()
                    ),
                );
            }
        }
        let credentialed = !credentials.is_empty();
        if credentialed {
            // An echo of the credential must come back as the bytes it was sent as, whole, for
            // redaction to find it: no compressed encoding, no part of a representation.
            let headers = request.headers_mut();
            headers.insert(
                http::header::ACCEPT_ENCODING,
                http::HeaderValue::from_static("identity"),
            );
            headers.remove(http::header::RANGE);
            headers.remove(http::header::IF_RANGE);
            headers.remove(http::header::TE);
        }

        span.set("server.port", i64::from(port));
        let propagate = self.policy.propagate_trace && span.is_on();
        let policy = self.policy.clone();
        let resolver = self.resolver.clone();
        let deadline = self.deadline;
        let limit = self.max_response_bytes;
        let (redact, tls) = (self.redact.clone(), self.tls.clone());
        let outcome = span;
        let cx = outcome.context();
        in_context(
            async move {
                let remaining = || deadline.saturating_duration_since(Instant::now());
                let addrs = resolve(&*resolver, &host, port, remaining()).await?;
                for addr in &addrs {
                    if let Err(denial @ NetworkDenial::Prohibited { .. }) =
                        policy.check_address(*addr)
                    {
                        deny(&log, &target, denial.to_string());
                        return Err(Error::DestinationIpProhibited);
                    }
                }
                let connect_timeout = options
                    .and_then(|o| o.connect_timeout)
                    .map_or(remaining(), |t| t.min(remaining()));
                // Every check passed: only now do the credentials join the request.
                for c in &credentials {
                    let Ok(mut value) = http::HeaderValue::from_str(&c.value) else {
                        deny(
                            &log,
                            &target,
                            format!(
                                "the credential for {} is not a valid header value (check the secrets {:?})",
                                c.destination(),
                                c.secret_names
                            ),
                        );
                        return Err(Error::HttpRequestDenied);
                    };
                    value.set_sensitive(true);
                    let Ok(name) = http::HeaderName::from_bytes(c.header.as_bytes()) else {
                        return Err(Error::HttpRequestDenied);
                    };
                    request.headers_mut().insert(name, value);
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .attached(c);
                }
                // The call's trace context, only where the policy says (every check passed).
                if propagate {
                    outcome.inject(&mut Headers(request.headers_mut()));
                }
                let stream = connect(&addrs, port, connect_timeout).await?;
                // Only the path goes on the wire; the Host header carries the name.
                *request.uri_mut() = http::Uri::builder()
                    .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
                    .build()
                    .map_err(|_| Error::HttpRequestUriInvalid)?;
                let cut = Cut { log, target };
                let reply = Reply {
                    limit,
                    cut,
                    redact,
                    tls,
                    credentialed,
                };
                let sent = send(stream, scheme, &host, request, reply, remaining()).await;
                match &sent {
                    Ok((response, _)) => {
                        outcome.set(
                            "http.response.status_code",
                            i64::from(response.status().as_u16()),
                        );
                    }
                    Err(e) => {
                        outcome.set("error.type", e.to_string());
                    }
                }
                sent
            },
            cx,
        )
    }
}

/// A request's headers as the propagator writes them.
struct Headers<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// A request's URL as denials and logs show it: without user information (credentials) and
/// without the query string (tokens), which may be secrets.
fn shown(uri: &http::Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, rest)| rest);
        if authority.as_str().contains('@') {
            out.push_str("<userinfo>@");
        }
        out.push_str(host_port);
    }
    out.push_str(uri.path());
    if uri.query().is_some() {
        out.push_str("?<query>");
    }
    out
}

async fn resolve(
    resolver: &dyn Resolver,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<IpAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    if let Some(v4) = parse_ipv4_loose(host) {
        return Ok(vec![IpAddr::V4(v4)]);
    }
    let addrs = tokio::time::timeout(timeout, resolver.lookup(host, port))
        .await
        .map_err(|_| Error::DnsTimeout)?
        .map_err(|e| Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?;
    if addrs.is_empty() {
        return Err(Error::DestinationNotFound);
    }
    Ok(addrs)
}

async fn connect(addrs: &[IpAddr], port: u16, timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(SocketAddr::new(*addr, port))).await
        {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    Err(last)
}

/// The TLS configuration of outbound requests: the public web's roots (webpki), plus `extra`
/// (DER certificates a sandbox was configured with, e.g. a test's own CA).
pub(crate) fn tls_config(extra: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("a configured TLS root is not a usable certificate: {e}"))?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// What the response passes through on its way to the guest.
struct Reply {
    limit: u64,
    cut: Cut,
    redact: Arc<Vec<Vec<u8>>>,
    tls: Arc<rustls::ClientConfig>,
    /// The request carried a credential: its reply must be whole and unencoded.
    credentialed: bool,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn send(
    stream: TcpStream,
    scheme: Scheme,
    host: &str,
    request: http::Request<WasiBody>,
    reply: Reply,
    timeout: Duration,
) -> Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
> {
    let io: Box<dyn Io> = match scheme {
        Scheme::Http => Box::new(stream),
        Scheme::Https => {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|_| Error::TlsCertificateError)?;
            let tls = tokio_rustls::TlsConnector::from(reply.tls.clone())
                .connect(name, stream)
                .await
                .map_err(Error::Tls)?;
            Box::new(tls)
        }
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(Error::from)?;
    let mut conn = Box::pin(conn);
    let mut response = Box::pin(sender.send_request(request));
    // Drive the connection while waiting for the response head.
    let head = tokio::time::timeout(
        timeout,
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = response.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(Error::from));
            }
            match conn.as_mut().poll(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(Error::from(e))),
                _ => Poll::Pending,
            }
        }),
    )
    .await
    .map_err(|_| Error::ConnectionReadTimeout)??;
    let Reply {
        limit,
        cut,
        redact,
        credentialed,
        ..
    } = reply;
    if credentialed {
        let status = head.status();
        let encoded = head
            .headers()
            .get_all(http::header::CONTENT_ENCODING)
            .iter()
            .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        if encoded || status == http::StatusCode::PARTIAL_CONTENT {
            deny(
                &cut.log,
                &cut.target,
                "a reply to a request carrying a credential came compressed or partial, where an echo of the credential could not be redacted; refused".into(),
            );
            return Err(Error::HttpResponseContentCoding(None));
        }
    }
    let mut response = head.map(|incoming| CappedBody {
        inner: incoming,
        left: limit,
        limit,
        cut: Some(cut),
    });
    let response = if redact.is_empty() {
        response.map(http_body_util::BodyExt::boxed_unsync)
    } else {
        // Redaction changes the body's length (and the original length would hint at the
        // secret's): the guest reads to the end instead.
        response.headers_mut().remove(http::header::CONTENT_LENGTH);
        // A header echoing a secret is redacted like the body.
        redact_headers(response.headers_mut(), &redact);
        response.map(|body| http_body_util::BodyExt::boxed_unsync(RedactingBody::new(body, redact)))
    };
    let io = async move { conn.await.map_err(Error::from) };
    Ok((response, Box::new(io)))
}

/// Where a cut response body is recorded as a denial.
struct Cut {
    log: SharedLog,
    target: String,
}

/// A response body that fails once it has delivered more than `limit` bytes; the cut is a
/// denial in the call's usage report (once).
struct CappedBody {
    inner: hyper::body::Incoming,
    left: u64,
    limit: u64,
    cut: Option<Cut>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match frame {
            None => None,
            Some(Err(e)) => Some(Err(Error::from(e))),
            Some(Ok(frame)) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.left {
                    if let Some(cut) = self.cut.take() {
                        deny(
                            &cut.log,
                            &cut.target,
                            format!(
                                "response body over the limit of {} bytes (max_http_response_bytes); cut",
                                self.limit
                            ),
                        );
                    }
                    Some(Err(Error::HttpResponseBodySize(Some(self.limit))))
                } else {
                    self.left -= len;
                    Some(Ok(frame))
                }
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
