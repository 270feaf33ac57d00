//! The accept loop. `axum::serve` gives no way to bound how long a client may take to send its
//! request headers, so a slow client (slowloris) could hold a connection open for ever; this loop
//! serves each connection with hyper directly, with a header-read deadline, TCP_NODELAY and
//! graceful shutdown. With TLS (`tls/`), each connection's handshake has the same deadline, and
//! the protocol ALPN settled on (HTTP/2 or HTTP/1.1) serves it.

use crate::drain::Draining;
use crate::tls::clients::PeerCertificate;
use crate::wire_errors::WireErrors;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// What a plain-HTTP request on the HTTPS port is answered: nothing of the API is served
/// without TLS, and the client is told what to use instead.
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 67\r\n\r\nThis port speaks HTTPS only: send the request again with https://\n";

/// How much of a refused plain-HTTP request is read after the answer, and for how long, so
/// that the connection closes without a reset (a lingering close).
const LINGER_BYTES: usize = 64 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `shutdown` completes. `client_timeout` bounds the time a
/// client has to send a request's headers (and, with `tls`, to finish its handshake), which also
/// closes idle keep-alive connections after that long.
/// After `shutdown`, open connections get `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    client_timeout: Duration,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses on a reused connection must not wait for delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        match &acceptor {
            None => {
                let connection = http1(client_timeout).serve_connection(
                    WireErrors::new(TokioIo::new(tcp)),
                    service(app, peer, None, false),
                );
                tokio::spawn(async move {
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(serve_tls(acceptor, tcp, peer, app, client_timeout, watcher));
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("connections still open after the shutdown grace period; closing them");
        }
    }
    Ok(())
}

fn http1(client_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(client_timeout)
        .keep_alive(true);
    builder
}

/// The router for one connection, each request knowing the peer's address and, when it
/// presented one, the client certificate the handshake verified (`tls/clients.rs`). On an
/// HTTP/2 connection a request body the API leaves unread is drained (`drain.rs`).
fn service(
    app: Router,
    peer: SocketAddr,
    certificate: Option<Arc<PeerCertificate>>,
    h2: bool,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = if h2 {
            request.map(|body| axum::body::Body::new(Draining::new(body)))
        } else {
            request.map(axum::body::Body::new)
        };
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        // HTTP/2 names the host in `:authority` (RFC 9113 section 8.3.1), which hyper puts in
        // the URI: it becomes the `Host` every check of the API reads (DNS rebinding, RFC 9728
        // metadata), as HTTP/1.1 sends it.
        if !request.headers().contains_key(hyper::header::HOST)
            && let Some(authority) = request.uri().authority()
            && let Ok(host) = hyper::header::HeaderValue::from_str(authority.as_str())
        {
            request.headers_mut().insert(hyper::header::HOST, host);
        }
        app.clone().oneshot(request)
    })
}

/// One TLS connection: a plain-HTTP request refused in words, the handshake within
/// `client_timeout`, then HTTP/2 or HTTP/1.1 as ALPN settled.
async fn serve_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    mut tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    client_timeout: Duration,
    watcher: Watcher,
) {
    // A TLS connection opens with a handshake record (0x16); a request line opens with a letter.
    let mut first = [0u8; 1];
    match tokio::time::timeout(client_timeout, tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0].is_ascii_alphabetic() => {
            let _ = tcp.write_all(PLAIN_ON_TLS).await;
            let _ = tcp.shutdown().await;
            // A lingering close: closing with the request still unread would reset the
            // connection, and a client still writing its request would see the reset instead
            // of the answer. What it sends is read and dropped (bounded) until it closes.
            let linger = async {
                let mut sink = [0u8; 4096];
                let mut read = 0usize;
                while read < LINGER_BYTES {
                    match tokio::io::AsyncReadExt::read(&mut tcp, &mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read += n,
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER_TIME, linger).await;
            tracing::debug!(%peer, "plain HTTP on the HTTPS port: refused");
            return;
        }
        Ok(Ok(1)) => {}
        _ => return,
    }
    let tls = match tokio::time::timeout(client_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            // A client certificate refused (another CA, expired, none where one is required)
            // is a security event; other failed handshakes (scanners, old clients) are noise.
            let refused = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .filter(|r| {
                    matches!(
                        r,
                        rustls::Error::InvalidCertificate(_)
                            | rustls::Error::NoCertificatesPresented
                    )
                });
            match refused {
                Some(reason) => {
                    tracing::warn!(target: "cordon::security", %peer, %reason, "client certificate refused in the TLS handshake");
                }
                None => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
            }
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake not finished in time");
            return;
        }
    };
    let session = tls.get_ref().1;
    let h2 = session.alpn_protocol() == Some(b"h2".as_slice());
    // Verified by the handshake already (`tls/clients.rs`); the leaf names the holder.
    let certificate = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| PeerCertificate::parse(leaf))
        .map(Arc::new);
    let io = TokioIo::new(tls);
    let ended = if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        watcher
            .watch(builder.serve_connection(io, service(app, peer, certificate, true)))
            .await
    } else {
        watcher
            .watch(
                http1(client_timeout)
                    .serve_connection(WireErrors::new(io), service(app, peer, certificate, false)),
            )
            .await
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}
