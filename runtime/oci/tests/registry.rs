//! Push and pull against a real registry (Debian's `docker-registry`, started by the test on a
//! free port): by tag and by digest, with basic auth, and what must be refused: an unsigned
//! file, wrong credentials, a missing tag, a layer altered in the registry's storage, a
//! component over the size limit, plain HTTP to a registry not named insecure. (Manifests of
//! other layouts are refused by `artifact::component_layer`, tested beside it.)

mod common;

use common::signed_component;
use cordon_oci::{Credentials, OciError, OciRef, RegistryOptions, pull, push};
use cordon_test_registry::{Options, TestRegistry};

fn insecure(registry: &TestRegistry) -> RegistryOptions {
    RegistryOptions {
        insecure: vec![registry.host()],
        ..RegistryOptions::default()
    }
}

fn reference(registry: &TestRegistry, rest: &str) -> OciRef {
    OciRef::parse(&format!("oci://{}/{rest}", registry.host())).unwrap()
}

#[tokio::test]
async fn a_pushed_component_is_pulled_back_by_tag_and_by_digest() {
    let registry = TestRegistry::start(&Options::default()).unwrap();
    let options = insecure(&registry);
    let component = signed_component();
    // No tag: the signed version is the tag.
    let pushed = push(
        &reference(&registry, "team/echo"),
        &component,
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap();
    assert_eq!(pushed.reference.tag.as_deref(), Some("1.2.0"));
    assert_eq!(
        pushed.reference.digest.as_deref(),
        Some(pushed.manifest_digest.as_str())
    );
    assert_eq!(pushed.size, component.len() as u64);
    // Pushing the same signed file again gives the same artifact.
    let again = push(
        &reference(&registry, "team/echo:stable"),
        &component,
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap();
    assert_eq!(again.manifest_digest, pushed.manifest_digest);

    for by in [
        "team/echo:1.2.0",
        "team/echo:stable",
        &format!("team/echo@{}", pushed.manifest_digest),
    ] {
        let pulled = pull(&reference(&registry, by), &Credentials::Anonymous, &options)
            .await
            .unwrap();
        assert_eq!(pulled.component, component, "{by}");
        assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
        assert_eq!(
            pulled.reference.digest.as_deref(),
            Some(pushed.manifest_digest.as_str())
        );
    }

    // A digest the tag does not point at, a missing tag, a missing repository.
    let wrong = format!("team/echo:1.2.0@sha256:{}", "0".repeat(64));
    let e = pull(
        &reference(&registry, &wrong),
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, OciError::NotFound { .. } | OciError::Digest { .. }),
        "{e}"
    );
    for missing in ["team/echo:9.9.9", "nobody/here:1"] {
        let e = pull(
            &reference(&registry, missing),
            &Credentials::Anonymous,
            &options,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, OciError::NotFound { .. }), "{missing}: {e}");
        assert!(e.to_string().contains("was not found"), "{e}");
    }

    // Over the size limit: refused from the manifest, before the download.
    let small = RegistryOptions {
        max_bytes: 1000,
        ..options.clone()
    };
    let e = pull(
        &reference(&registry, "team/echo:1.2.0"),
        &Credentials::Anonymous,
        &small,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, OciError::TooLarge { limit: 1000, .. }), "{e}");

    // Plain HTTP only to registries named insecure: HTTPS is tried and fails.
    let e = pull(
        &reference(&registry, "team/echo:1.2.0"),
        &Credentials::Anonymous,
        &RegistryOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, OciError::Registry { .. }), "{e}");

    // An unsigned file is not pushed.
    let e = push(
        &reference(&registry, "team/unsigned:1"),
        b"\0asm\x0d\x00\x01\x00",
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("cordon sign"), "{e}");

    // The layer altered in the registry's own storage: the registry still serves it under the
    // old digest; the pull refuses it.
    let layer = cordon_oci::artifact::digest_of(&component);
    let path = registry.blob_path(&layer);
    let mut altered = std::fs::read(&path).unwrap();
    assert_eq!(altered, component);
    let last = altered.len() - 1;
    altered[last] ^= 0xff;
    std::fs::write(&path, &altered).unwrap();
    let e = pull(
        &reference(&registry, "team/echo:1.2.0"),
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    match &e {
        OciError::Digest { what, expected, .. } => {
            assert_eq!(*what, "the component layer");
            assert_eq!(expected, &layer);
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn basic_auth_is_needed_where_the_registry_asks_for_it() {
    let registry = TestRegistry::start(&Options {
        basic_auth: Some(("tester".into(), "s3cret-pass".into())),
        ..Options::default()
    })
    .unwrap();
    let options = insecure(&registry);
    let component = signed_component();
    let target = reference(&registry, "echo:1");
    for creds in [
        Credentials::Anonymous,
        Credentials::Basic {
            username: "tester".into(),
            password: "wrong".into(),
        },
    ] {
        let e = push(&target, &component, &creds, &options)
            .await
            .unwrap_err();
        assert!(matches!(e, OciError::Unauthorized { .. }), "{creds:?}: {e}");
        assert!(!e.to_string().contains("wrong"), "{e}");
    }
    let good = Credentials::Basic {
        username: "tester".into(),
        password: "s3cret-pass".into(),
    };
    assert!(!format!("{good:?}").contains("s3cret"));
    let pushed = push(&target, &component, &good, &options).await.unwrap();
    let e = pull(&target, &Credentials::Anonymous, &options)
        .await
        .unwrap_err();
    assert!(matches!(e, OciError::Unauthorized { .. }), "{e}");
    let pulled = pull(&target, &good, &options).await.unwrap();
    assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
    assert_eq!(pulled.component, component);
}

/// A server's pulls go through the address guard: a registry on loopback is refused unless its
/// range is listed, over plain HTTP (forwarded) and over HTTPS (tunnelled) alike; listed, the
/// pull works through the guard, the test CA trusted for the HTTPS one.
#[tokio::test]
async fn pulls_reach_private_addresses_only_when_their_range_is_listed() {
    use cordon_oci::AddressRules;
    use cordon_test_registry::TestCa;
    let component = signed_component();
    let closed = AddressRules::default();
    let loopback = AddressRules {
        allow_private: vec!["127.0.0.0/8".parse().unwrap()],
    };

    // Plain HTTP (a registry named insecure): each request forwarded by the guard.
    let plain = TestRegistry::start(&Options::default()).unwrap();
    let options = insecure(&plain);
    let pushed = push(
        &reference(&plain, "team/echo"),
        &component,
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap();

    // HTTPS with a CA made for this test: each connection tunnelled by the guard.
    let ca = TestCa::new().unwrap();
    let tls = TestRegistry::start(&ca.options()).unwrap();
    let with_ca = RegistryOptions {
        extra_ca_pem: vec![ca.ca_pem.clone().into_bytes()],
        ..RegistryOptions::default()
    };
    // Without the CA the registry's certificate is not trusted.
    let e = push(
        &reference(&tls, "team/echo"),
        &component,
        &Credentials::Anonymous,
        &RegistryOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, OciError::Registry { .. }), "{e}");
    let over_tls = push(
        &reference(&tls, "team/echo"),
        &component,
        &Credentials::Anonymous,
        &with_ca,
    )
    .await
    .unwrap();
    assert_eq!(over_tls.manifest_digest, pushed.manifest_digest);

    for (registry, base) in [(&plain, &options), (&tls, &with_ca)] {
        let by_tag = reference(registry, "team/echo:1.2.0");
        let refused = RegistryOptions {
            addresses: Some(closed.clone()),
            ..base.clone()
        };
        let e = pull(&by_tag, &Credentials::Anonymous, &refused)
            .await
            .unwrap_err();
        match &e {
            OciError::Address { destination, .. } => {
                assert!(destination.starts_with(&registry.host()), "{destination}");
                assert!(
                    destination.contains("127.0.0.1 is loopback"),
                    "{destination}"
                );
            }
            other => panic!("expected an address refusal, got {other}"),
        }
        assert!(e.to_string().contains("registries.allow_private"), "{e}");

        let allowed = RegistryOptions {
            addresses: Some(loopback.clone()),
            ..base.clone()
        };
        let pulled = pull(&by_tag, &Credentials::Anonymous, &allowed)
            .await
            .unwrap();
        assert_eq!(pulled.component, component);
        assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
    }
}

/// A registry that wants Bearer tokens: the client gets one from the token service the
/// registry's challenge names, with its Basic credentials; anonymous is refused. The token
/// service is another host than the registry, and a server's pull reaches it only when its
/// address is allowed too.
#[tokio::test]
async fn the_registry_token_flow_is_followed_and_its_realm_is_guarded() {
    use cordon_oci::AddressRules;
    use cordon_test_registry::TokenService;
    let tokens = TokenService::start([127, 0, 0, 2].into(), "tok-user", "tok-password").unwrap();
    let registry = TestRegistry::start(&Options {
        token: Some((tokens.realm().to_owned(), tokens.cert_pem().to_owned())),
        ..Options::default()
    })
    .unwrap();
    let options = insecure(&registry);
    let credentials = Credentials::Basic {
        username: "tok-user".into(),
        password: "tok-password".into(),
    };
    let component = signed_component();
    let e = push(
        &reference(&registry, "team/echo"),
        &component,
        &Credentials::Anonymous,
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, OciError::Unauthorized { .. }), "{e}");
    let pushed = push(
        &reference(&registry, "team/echo"),
        &component,
        &credentials,
        &options,
    )
    .await
    .unwrap();
    assert!(tokens.issued() >= 1);

    let by_tag = reference(&registry, "team/echo:1.2.0");
    // The registry's address allowed, the token service's not: refused, naming the realm's host.
    let registry_only = RegistryOptions {
        addresses: Some(AddressRules {
            allow_private: vec!["127.0.0.1/32".parse().unwrap()],
        }),
        ..options.clone()
    };
    let e = pull(&by_tag, &credentials, &registry_only)
        .await
        .unwrap_err();
    match &e {
        OciError::Address { destination, .. } => {
            assert!(destination.starts_with("127.0.0.2:"), "{destination}")
        }
        other => panic!("expected an address refusal, got {other}"),
    }
    // Both addresses allowed, but the realm is plain HTTP on a host not named insecure: the
    // credentials are not sent to it in clear.
    let both = RegistryOptions {
        addresses: Some(AddressRules {
            allow_private: vec!["127.0.0.0/8".parse().unwrap()],
        }),
        ..options.clone()
    };
    let e = pull(&by_tag, &credentials, &both).await.unwrap_err();
    match &e {
        OciError::Address { destination, .. } => assert!(
            destination.starts_with("127.0.0.2:")
                && destination.contains("credentials over plain HTTP"),
            "{destination}"
        ),
        other => panic!("expected a refusal of credentials in clear, got {other}"),
    }
    // Named insecure as well (the operator's choice for a test registry), the flow completes.
    let realm_host = tokens
        .realm()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut both = both;
    both.insecure.push(realm_host);
    let issued = tokens.issued();
    let pulled = pull(&by_tag, &credentials, &both).await.unwrap();
    assert_eq!(pulled.component, component);
    assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
    assert!(tokens.issued() > issued, "the pull took a token");
    let e = pull(&by_tag, &Credentials::Anonymous, &both)
        .await
        .unwrap_err();
    assert!(matches!(e, OciError::Unauthorized { .. }), "{e}");
}
