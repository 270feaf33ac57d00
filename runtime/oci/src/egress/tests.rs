//! The guard's own tests: who gets through, what comes back, and what it notes.

use super::*;

/// Only the pull's own client, which holds the credential in its proxy URL, gets through.
#[tokio::test]
async fn a_request_without_the_pulls_credential_is_refused() {
    let (guard, addr, credential) = loopback_guard(1 << 20, &[]).await;
    let ask = |auth: Option<String>| {
        let (addr, auth) = (addr.to_owned(), auth);
        async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let header = auth
                .map(|a| format!("Proxy-Authorization: {a}\r\n"))
                .unwrap_or_default();
            // A destination the rules allow: the guard's own port.
            s.write_all(format!("CONNECT {addr} HTTP/1.1\r\n{header}\r\n").as_bytes())
                .await
                .unwrap();
            let mut first = [0u8; 12];
            s.read_exact(&mut first).await.unwrap();
            String::from_utf8_lossy(&first).into_owned()
        }
    };
    assert_eq!(ask(None).await, "HTTP/1.1 407");
    assert_eq!(
        ask(Some(format!("Basic {}", STANDARD.encode("cordon:guess")))).await,
        "HTTP/1.1 407"
    );
    assert_eq!(ask(Some(credential)).await, "HTTP/1.1 200");
    assert_eq!(guard.explanation(), None);
}

/// A guard allowing loopback, with `budget` bytes and `insecure` registries.
async fn loopback_guard(budget: u64, insecure: &[&str]) -> (Egress, String, String) {
    guard_allowing("127.0.0.0/8", budget, insecure).await
}

/// A guard allowing `range`; the guard, its address, and the `Proxy-Authorization` value.
async fn guard_allowing(range: &str, budget: u64, insecure: &[&str]) -> (Egress, String, String) {
    let guard = Egress::start(
        AddressRules {
            allow_private: vec![range.parse().unwrap()],
        },
        Bounds {
            budget,
            plain_http_with_credentials: insecure.iter().map(|s| s.to_string()).collect(),
        },
    )
    .await
    .unwrap();
    let (userinfo, addr) = guard
        .url()
        .trim_start_matches("http://")
        .split_once('@')
        .map(|(u, a)| (u.to_owned(), a.to_owned()))
        .unwrap();
    let credential = format!("Basic {}", STANDARD.encode(userinfo));
    (guard, addr, credential)
}

/// A server on loopback that answers every connection with `size` bytes after the head (and
/// no `Connection` header), then closes it.
async fn flood(size: usize) -> String {
    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
    answer.resize(answer.len() + size, b'x');
    fixed(answer).await
}

/// A server on loopback that answers every connection with `answer`, then closes it.
async fn fixed(answer: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 1024];
                let _ = s.read(&mut head).await;
                let _ = s.write_all(&answer).await;
            });
        }
    });
    addr
}

async fn exchange(proxy: &str, request: String) -> Vec<u8> {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    // Every exchange here ends with the proxy closing the connection; one that does not fails
    // the test rather than hanging the run.
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the proxy kept the connection open: {:?}",
        String::from_utf8_lossy(&got[..got.len().min(80)])
    );
    got
}

#[tokio::test]
async fn what_comes_back_is_cut_at_the_pulls_budget() {
    let upstream = flood(4 << 20).await;
    let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
    let got = exchange(
        &proxy,
        format!("GET http://{upstream}/v2/ HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n"),
    )
    .await;
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &got[..got.len().min(40)]
    );
    assert!(
        got.len() <= (1 << 20) + 16 * 1024,
        "{} bytes passed",
        got.len()
    );
    assert!(guard.over_budget().is_some_and(|n| n > 1 << 20));
    // Within the budget nothing is cut.
    let small = flood(1000).await;
    let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
    let got = exchange(
        &proxy,
        format!("GET http://{small}/v2/ HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n"),
    )
    .await;
    assert!(got.ends_with(&[b'x'; 1000]), "{} bytes", got.len());
    assert_eq!(guard.over_budget(), None);
}

#[tokio::test]
async fn credentials_go_over_plain_http_only_to_a_registry_named_insecure() {
    let upstream = flood(10).await;
    let request = |credential: &str| {
        format!(
            "GET http://{upstream}/token HTTP/1.1\r\nProxy-Authorization: {credential}\r\nAuthorization: Basic dTpw\r\n\r\n"
        )
    };
    let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
    let got = exchange(&proxy, request(&credential)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    match guard.explanation() {
        Some(Note::Refused { why, .. }) => {
            assert!(why.contains("credentials over plain HTTP"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let (guard, proxy, credential) = loopback_guard(1 << 20, &[upstream.as_str()]).await;
    let got = exchange(&proxy, request(&credential)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(guard.explanation(), None);
}

#[test]
fn the_credential_comparison_needs_every_byte() {
    assert!(same(b"Basic abc", b"Basic abc"));
    assert!(!same(b"Basic abc", b"Basic abd"));
    assert!(!same(b"Basic abc", b"Basic ab"));
    assert!(!same(b"", b"x"));
}

/// The guard forwards one request per connection and closes it after the answer: the answer
/// says so, even when the destination's did not, so the client never sends a second request
/// into a connection that is closing.
#[tokio::test]
async fn a_forwarded_answer_says_the_connection_closes() {
    let upstream = flood(10).await;
    let (_guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
    let got = exchange(
        &proxy,
        format!("GET http://{upstream}/v2/ HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n"),
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nxxxxxxxxxx"
    );
}

/// Asks the guard at `proxy` for `request`; the status line's first 12 bytes.
async fn status_of(proxy: &str, request: String) -> String {
    let got = exchange(proxy, request).await;
    String::from_utf8_lossy(&got[..got.len().min(12)]).into_owned()
}

/// What the guard refused or could not reach is noted before the client has the answer, so a
/// pull failing on that answer always finds the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_guard_refused_or_could_not_reach_is_noted_before_it_answers() {
    // A port bound and never listened on: a connection to it is refused, and nothing else on
    // the machine (other tests run beside this one) can start listening on it meanwhile.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let free_port = closed.local_addr().unwrap().port();
    for _ in 0..50 {
        let (guard, proxy, credential) = guard_allowing("127.0.0.2/32", 1 << 20, &[]).await;
        let connect = |to: &str| {
            format!("CONNECT {to} HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n")
        };
        assert_eq!(
            status_of(&proxy, connect("127.0.0.1:9")).await,
            "HTTP/1.1 403"
        );
        assert_eq!(
            guard.explanation(),
            Some(Note::Refused {
                destination: "127.0.0.1:9".into(),
                why: "127.0.0.1 is loopback".into()
            })
        );

        let (guard, proxy, credential) = guard_allowing("127.0.0.0/8", 1 << 20, &[]).await;
        let connect = |to: &str| {
            format!("CONNECT {to} HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n")
        };
        assert_eq!(
            status_of(&proxy, connect("cordon-test.invalid:443")).await,
            "HTTP/1.1 502"
        );
        assert!(matches!(
            guard.explanation(),
            Some(Note::Unresolved { destination, .. }) if destination == "cordon-test.invalid:443"
        ));
        let (guard, proxy, credential) = guard_allowing("127.0.0.0/8", 1 << 20, &[]).await;
        let to = format!("127.0.0.1:{free_port}");
        let request = format!("CONNECT {to} HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n");
        assert_eq!(status_of(&proxy, request).await, "HTTP/1.1 502");
        assert!(matches!(
            guard.explanation(),
            Some(Note::NoConnection { destination, .. }) if destination == to
        ));
    }
}

/// A client following a redirect to another host drops the proxy credential: the redirect the
/// guard saw answered is let through once without it, and nothing else is.
#[tokio::test]
async fn a_redirect_seen_going_by_is_followed_once_without_the_credential() {
    let target = flood(3).await;
    let origin = fixed(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target}/store/b?sig=1\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes(),
    )
    .await;
    let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
    let got = exchange(
        &proxy,
        format!(
            "GET http://{origin}/v2/a/blobs/sha256:ab HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n"
        ),
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 307") && text.contains("\r\nConnection: close\r\n"),
        "{text}"
    );
    let follow =
        |path: &str| format!("GET http://{target}{path} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    assert_eq!(
        status_of(&proxy, follow("/store/b?sig=1")).await,
        "HTTP/1.1 200"
    );
    assert_eq!(
        status_of(&proxy, follow("/store/b?sig=1")).await,
        "HTTP/1.1 407"
    );
    assert_eq!(
        status_of(&proxy, follow("/elsewhere")).await,
        "HTTP/1.1 407"
    );
    assert_eq!(
        guard.explanation(),
        Some(Note::Uncredentialed {
            destination: target.clone()
        })
    );
}

/// A plain-HTTP request without the credential (an HTTPS answer's redirect to plain HTTP on
/// another host) to an address the rules refuse is refused as that, naming the host as the
/// client wrote it; a tunnel without it is only ever someone else's, and is not looked at.
#[tokio::test]
async fn a_request_without_the_credential_to_a_refused_address_is_refused_as_such() {
    let (guard, proxy, _) = guard_allowing("127.0.0.2/32", 1 << 20, &[]).await;
    assert_eq!(
        status_of(&proxy, "CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n".into()).await,
        "HTTP/1.1 407"
    );
    assert_eq!(guard.explanation(), None);
    let got = exchange(&proxy, "GET http://2130706433:9/x HTTP/1.1\r\n\r\n".into()).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(
        text.ends_with("2130706433:9: 127.0.0.1 is loopback"),
        "{text}"
    );
    assert_eq!(
        guard.explanation(),
        Some(Note::Refused {
            destination: "2130706433:9".into(),
            why: "127.0.0.1 is loopback".into()
        })
    );
}
