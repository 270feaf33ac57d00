//! A server's pulls through the address guard against registries that misbehave, played by a
//! stand-in (`cordon_test_registry::standin`): one that closes every connection after its answer
//! without saying so, redirects of the manifest and of the blob and token realms aimed at
//! addresses pulls may not reach (in every spelling of them), a pin the manifest does not have,
//! and hosts that resolve to loopback, do not resolve, or do not answer. Each failure is
//! reported as what it is, and nothing the rules refuse is reached.

mod common;

use cordon_oci::{AddressRules, Credentials, OciError, OciRef, RegistryOptions, pull};
use cordon_test_registry::standin::{Artifact, Behaviour, StandIn};
use std::net::IpAddr;
use std::time::Duration;

/// The stand-ins live on 127.0.0.2, the one address the tests' rules allow; 127.0.0.1 is the
/// refused loopback a hostile registry aims at.
const ALLOWED: [u8; 4] = [127, 0, 0, 2];

fn artifact(component: &[u8]) -> Artifact {
    let built =
        cordon_oci::artifact::build(component, "echo", "1.2.0", "2025-12-01T00:00:00Z").unwrap();
    Artifact {
        manifest: built.manifest,
        blobs: vec![
            (built.config_digest, built.config),
            (built.layer_digest, component.to_vec()),
        ],
    }
}

fn stand_in(component: &[u8], behaviour: Behaviour) -> StandIn {
    StandIn::start(IpAddr::from(ALLOWED), artifact(component), behaviour).unwrap()
}

/// A server's options: only 127.0.0.2 allowed, `insecure` reached over plain HTTP.
fn guarded(insecure: &[String]) -> RegistryOptions {
    RegistryOptions {
        insecure: insecure.to_vec(),
        addresses: Some(AddressRules {
            allow_private: vec!["127.0.0.2/32".parse().unwrap()],
        }),
        ..RegistryOptions::default()
    }
}

fn oci(host: &str, rest: &str) -> OciRef {
    OciRef::parse(&format!("oci://{host}/{rest}")).unwrap()
}

/// A free port on 127.0.0.1, nothing listening on it any more.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A small HTTP/1.1 registry that closes each connection after one answer without
/// `Connection: close`, at once or a moment later: every pull through the guard completes (the
/// client used to send its next request into the connection the guard was about to close, and
/// about one pull in six failed with the request never reaching the registry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_closing_every_connection_is_pulled_from_every_time() {
    let component = common::signed_component();
    for (close_after, pulls) in [(Duration::from_millis(20), 10), (Duration::ZERO, 30)] {
        let registry = stand_in(
            &component,
            Behaviour {
                close_after,
                ..Behaviour::default()
            },
        );
        let options = guarded(&[registry.host()]);
        let reference = oci(&registry.host(), "team/echo:1.2.0");
        let mut failures = Vec::new();
        for _ in 0..pulls {
            match pull(&reference, &Credentials::Anonymous, &options).await {
                Ok(pulled) => assert_eq!(pulled.component, component),
                Err(e) => failures.push(e.to_string()),
            }
        }
        assert!(
            failures.is_empty(),
            "closed after {close_after:?}: {} of {pulls} failed: {failures:?}",
            failures.len()
        );
    }
}

/// Redirects of the manifest or the blob, and token realms, aimed at loopback, the metadata
/// address or the unspecified address, in every spelling: refused as an address, naming the
/// host the client asked for (never what a name resolved to), and never reached.
#[tokio::test]
async fn redirects_and_token_realms_to_refused_addresses_are_refused() {
    let component = common::signed_component();
    // What a refused address would reach: a listener on 127.0.0.1 that must see nothing.
    let trap = StandIn::start(
        IpAddr::from([127, 0, 0, 1]),
        artifact(&component),
        Behaviour::default(),
    )
    .unwrap();
    let port = trap.host().rsplit_once(':').unwrap().1.to_owned();
    let loopback = format!("127.0.0.1:{port}: 127.0.0.1 is loopback");
    for (base, named) in [
        (format!("http://127.0.0.1:{port}"), loopback.clone()),
        (format!("http://2130706433:{port}"), loopback.clone()),
        (format!("http://0177.0.0.1:{port}"), loopback.clone()),
        (format!("https://127.0.0.1:{port}"), loopback.clone()),
        (
            format!("http://[::ffff:127.0.0.1]:{port}"),
            format!("[::ffff:7f00:1]:{port}: ::ffff:127.0.0.1 is loopback"),
        ),
        (
            format!("http://0.0.0.0:{port}"),
            format!("0.0.0.0:{port}: 0.0.0.0 is unspecified"),
        ),
        (
            format!("http://localhost:{port}"),
            format!("localhost:{port}: resolves to an address that is not public"),
        ),
        (
            "http://169.254.169.254".to_owned(),
            "169.254.169.254:80: 169.254.169.254 is link-local".to_owned(),
        ),
    ] {
        for (what, behaviour) in [
            (
                "manifest redirect",
                Behaviour {
                    redirect_manifests: Some(base.clone()),
                    ..Behaviour::default()
                },
            ),
            (
                "blob redirect",
                Behaviour {
                    redirect_blobs: Some(base.clone()),
                    ..Behaviour::default()
                },
            ),
            (
                "token realm",
                Behaviour {
                    realm: Some(format!("{base}/token")),
                    ..Behaviour::default()
                },
            ),
        ] {
            let registry = stand_in(&component, behaviour);
            let e = pull(
                &oci(&registry.host(), "team/echo:1.2.0"),
                &Credentials::Anonymous,
                &guarded(&[registry.host()]),
            )
            .await
            .unwrap_err();
            match &e {
                OciError::Address { destination, .. } => {
                    assert!(destination.starts_with(&named), "{what} to {base}: {e}")
                }
                other => panic!("{what} to {base}: expected an address refusal, got {other}"),
            }
            assert!(e.to_string().contains("registries.allow_private"), "{e}");
        }
    }
    assert_eq!(trap.seen(), Vec::<String>::new());
}

/// A plain-HTTP redirect to another host the rules allow is followed (the client drops its
/// proxy credential there; the guard lets that one request through), the blob coming from there.
#[tokio::test]
async fn a_redirect_to_another_allowed_host_is_followed() {
    let component = common::signed_component();
    let storage = stand_in(&component, Behaviour::default());
    let registry = stand_in(
        &component,
        Behaviour {
            redirect_blobs: Some(format!("http://{}", storage.host())),
            ..Behaviour::default()
        },
    );
    let pulled = pull(
        &oci(&registry.host(), "team/echo:1.2.0"),
        &Credentials::Anonymous,
        &guarded(&[registry.host()]),
    )
    .await
    .unwrap();
    assert_eq!(pulled.component, component);
    let layer = cordon_oci::artifact::digest_of(&component);
    assert!(
        storage.seen().iter().any(|l| l.contains(&layer)),
        "{:?}",
        storage.seen()
    );
}

/// A registry that serves a manifest for any digest: a pin the manifest does not have is a
/// digest mismatch, saying which digest was expected.
#[tokio::test]
async fn a_pin_the_manifest_does_not_have_is_a_digest_mismatch() {
    let component = common::signed_component();
    let registry = stand_in(&component, Behaviour::default());
    let pin = format!("sha256:{}", "0".repeat(64));
    let e = pull(
        &oci(&registry.host(), &format!("team/echo:1.2.0@{pin}")),
        &Credentials::Anonymous,
        &guarded(&[registry.host()]),
    )
    .await
    .unwrap_err();
    match &e {
        OciError::Digest { what, expected, .. } => {
            assert_eq!(*what, "the manifest");
            assert_eq!(expected, &pin);
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(
        e.to_string().contains("check the digest in the reference"),
        "{e}"
    );
}

/// A host name that resolves to loopback is refused like the address; one that does not
/// resolve, or an address where nothing answers, says which and what to check.
#[tokio::test]
async fn hosts_that_resolve_to_loopback_do_not_resolve_or_do_not_answer_say_so() {
    let options = guarded(&[]);
    let port = closed_port();
    let e = pull(
        &oci(&format!("localhost:{port}"), "x:1"),
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    match &e {
        OciError::Address { destination, .. } => assert_eq!(
            destination,
            &format!("localhost:{port}: resolves to an address that is not public")
        ),
        other => panic!("expected an address refusal, got {other}"),
    }
    // Where the system knows `ip6-localhost` (Debian's /etc/hosts: ::1), it is loopback.
    let ip6_localhost = std::net::ToSocketAddrs::to_socket_addrs(&("ip6-localhost", port))
        .map(|mut a| a.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    let e = pull(
        &oci(&format!("ip6-localhost:{port}"), "x:1"),
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    if ip6_localhost {
        assert!(matches!(e, OciError::Address { .. }), "{e}");
    } else {
        assert!(e.to_string().contains("cannot resolve"), "{e}");
    }

    let e = pull(
        &oci("cordon-test.invalid:5000", "x:1"),
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    match &e {
        OciError::Unreachable { destination, .. } => {
            assert_eq!(destination, "cordon-test.invalid:5000")
        }
        other => panic!("expected an unreachable registry, got {other}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("cannot resolve the host name") && text.contains("DNS"),
        "{text}"
    );

    let nobody = format!("127.0.0.2:{}", closed_port());
    let e = pull(&oci(&nobody, "x:1"), &Credentials::Anonymous, &options)
        .await
        .unwrap_err();
    assert!(matches!(e, OciError::Unreachable { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("cannot connect to {nobody}")) && text.contains("listens"),
        "{text}"
    );
}
