//! Publishing from OCI registries end to end: `cordon push` to a real registry (Debian's
//! `docker-registry`, basic auth), then `cordon publish oci://...` and `POST /v1/tools` with
//! `{"oci": ...}` on a server whose registry login is in its secret store. By tag (resolved once:
//! a retag changes nothing already published) and by digest; the reference pinned by digest in
//! the tool, its listing and its audit event; and every refusal (address not allowed, unknown
//! signer, not a component, too large, missing tag, altered layer, wrong credentials) answered
//! with what to do and nothing stored. One more over TLS with a CA made for the test, and one
//! against a registry stand-in: a small HTTP/1.1 server that closes every connection after its
//! answer (pulled from every time), and hostile ones redirecting or naming token realms at
//! addresses a pull may not reach (refused as addresses, nothing reached).

use crate::harness::{Fixture, Server, cordon, fixture, new_secret_key, set_secret};
use cordon_test_registry::standin::{self, Behaviour, StandIn};
use cordon_test_registry::{Options, TestCa, TestRegistry};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Stdio;

pub(crate) const USER: &str = "tester";
pub(crate) const PASSWORD: &str = "pw-of-the-publish-registry";
const WRONG: &str = "not-the-registry-password";

/// `cordon push FILE REF` with the registry's credentials; returns the manifest digest.
fn push(file: &Path, reference: &str, registry: &TestRegistry, ca: Option<&Path>) -> String {
    let mut push = cordon();
    push.args([
        "push",
        file.to_str().unwrap(),
        reference,
        "--username",
        USER,
    ])
    .env("CORDON_REGISTRY_PASSWORD", PASSWORD);
    match ca {
        Some(ca) => push.args(["--registry-ca", ca.to_str().unwrap()]),
        None => push.args(["--insecure-registry", &registry.host()]),
    };
    let out = push.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("digest:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A server whose config file has this `[registries]` section (the login's password in the
/// secret store), its log kept in `log`.
pub(crate) fn serve(
    f: &Fixture,
    secret_key: &str,
    registries: &str,
    extra: &[&str],
    log: &str,
) -> Server {
    let config = f.data.join(format!("{log}.toml"));
    std::fs::write(&config, registries).unwrap();
    let log = std::fs::File::create(f.data.join(format!("{log}.log"))).unwrap();
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_full(
        &f.data,
        &args,
        &[("CORDON_SECRET_KEY", secret_key)],
        Stdio::from(log),
    )
}

fn publish(s: &Server, key: &str, reference: &str) -> (u16, Value) {
    s.json(
        "POST",
        "/v1/tools",
        Some(key),
        serde_json::json!({ "oci": reference })
            .to_string()
            .as_bytes(),
    )
}

/// Every tool version the server lists, as (name, version).
fn listed(s: &Server, key: &str) -> Vec<(String, String)> {
    let (status, list) = s.json("GET", "/v1/tools", Some(key), b"");
    assert_eq!(status, 200, "{list}");
    let mut all = Vec::new();
    for tool in list["tools"].as_array().unwrap() {
        for v in tool["versions"].as_array().unwrap() {
            all.push((
                tool["name"].as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            ));
        }
    }
    all
}

/// An image that is not a Wasm component artifact (an OCI image with one tar layer), written
/// in skopeo's `dir:` layout and copied to the registry by skopeo.
fn push_foreign_image(dir: &Path, target: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let blob = |bytes: &[u8]| {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(dir.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (config, config_size) =
        blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    // An empty tar archive: two zero blocks.
    let (layer, layer_size) = blob(&[0u8; 1024]);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n").unwrap();
    crate::oci::skopeo(&[
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("dir:{}", dir.display()),
        target,
    ]);
}

/// Asserts a refusal's status and code; its message, which must not hold a password.
fn refused(answer: &(u16, Value), status: u16, code: &str) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    let message = answer.1["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        !message.contains(PASSWORD) && !message.contains(WRONG),
        "{message}"
    );
    message
}

#[test]
fn tools_are_published_from_a_registry_by_tag_and_by_digest_and_stay_pinned() {
    let f = fixture("oci-publish");
    let registry = TestRegistry::start(&Options {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Options::default()
    })
    .unwrap();
    let host = registry.host();
    let oci = |rest: &str| format!("oci://{host}/{rest}");
    let secret_key = new_secret_key();
    set_secret(&f.data, &secret_key, "registry-password", PASSWORD);
    set_secret(&f.data, &secret_key, "stale-password", WRONG);
    let login = |secret: &str| {
        format!(
            "[[registries.login]]\nregistry = \"{host}\"\nusername = \"{USER}\"\npassword_secret = \"{secret}\"\n"
        )
    };
    let open = format!(
        "[registries]\nallow_private = [\"127.0.0.0/8\"]\ninsecure = [\"{host}\"]\n{}",
        login("registry-password")
    );

    // What the registry holds: echo at :stable, word_count at :1, a tool signed by a key this
    // server does not trust, a tool whose layer is then altered in the registry's storage, and
    // an image that is not a component.
    let echo = f.signed.join("echo.wasm");
    let first = push(&echo, &oci("tools/echo:stable"), &registry, None);
    let word_count = push(
        &f.signed.join("word_count.wasm"),
        &oci("tools/wc:1"),
        &registry,
        None,
    );
    let stranger_key = f.data.join("stranger.pem");
    crate::harness::run(&["keygen", "--out", stranger_key.to_str().unwrap()]);
    let stranger = f.data.join("stranger.wasm");
    crate::harness::run(&[
        "sign",
        crate::harness::guest_echo(),
        "--key",
        stranger_key.to_str().unwrap(),
        "--out",
        stranger.to_str().unwrap(),
    ]);
    push(&stranger, &oci("tools/stranger:1"), &registry, None);
    let altered = f.signed.join("sleep.wasm");
    push(&altered, &oci("tools/altered:1"), &registry, None);
    let layer = registry.blob_path(&format!(
        "sha256:{}",
        hex::encode(Sha256::digest(std::fs::read(&altered).unwrap()))
    ));
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    push_foreign_image(
        &f.data.join("foreign"),
        &format!("docker://{host}/tools/foreign:1"),
    );

    // A server that may not reach private addresses: the registry on loopback is refused
    // before anything is fetched.
    let closed = format!(
        "[registries]\ninsecure = [\"{host}\"]\n{}",
        login("registry-password")
    );
    let s = serve(&f, &secret_key, &closed, &[], "closed");
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/echo:stable")),
        403,
        "registry_address_refused",
    );
    assert!(
        e.contains("127.0.0.1 is loopback") && e.contains("registries.allow_private"),
        "{e}"
    );
    assert!(listed(&s, &f.admin).is_empty());
    drop(s);

    // A plain-HTTP registry not named insecure: pulled over HTTPS, which fails; the answer
    // names the setting that allows plain HTTP.
    let https_only = format!(
        "[registries]\nallow_private = [\"127.0.0.0/8\"]\n{}",
        login("registry-password")
    );
    let s = serve(&f, &secret_key, &https_only, &[], "https-only");
    let (status, answer) = publish(&s, &f.publisher, &oci("tools/echo:stable"));
    assert_eq!(status, 502, "{answer}");
    let e = answer["error"]["message"].as_str().unwrap();
    assert!(
        e.contains(&format!(
            "if {host} serves plain HTTP, name it in registries.insecure"
        )),
        "{e}"
    );
    assert!(listed(&s, &f.admin).is_empty());
    drop(s);

    // Credentials the registry refuses: 502, the login named, no password anywhere.
    let stale = format!(
        "[registries]\nallow_private = [\"127.0.0.0/8\"]\ninsecure = [\"{host}\"]\n{}",
        login("stale-password")
    );
    let s = serve(&f, &secret_key, &stale, &[], "stale");
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/echo:stable")),
        502,
        "registry_unauthorized",
    );
    assert!(e.contains("registries.login"), "{e}");
    assert!(listed(&s, &f.admin).is_empty());
    drop(s);

    // Over the server's upload limit, which bounds pulls too: refused from the manifest.
    let s = serve(
        &f,
        &secret_key,
        &open,
        &["--max-upload-bytes", "1000"],
        "small",
    );
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/echo:stable")),
        413,
        "too_large",
    );
    assert!(e.contains("over the limit of 1000"), "{e}");
    assert!(listed(&s, &f.admin).is_empty());
    drop(s);

    let s = serve(&f, &secret_key, &open, &[], "open");
    // By tag, with the CLI: the tool keeps the reference pinned to the digest the tag named.
    let out = cordon()
        .args([
            "publish",
            &oci("tools/echo:stable"),
            "--server",
            &format!("http://{}", s.addr),
        ])
        .env("CORDON_API_KEY", &f.publisher)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pinned = format!("{}@{first}", oci("tools/echo:stable"));
    assert_eq!(shown["source"]["oci"], pinned.as_str(), "{shown}");
    assert_eq!(shown["source"]["manifest_digest"], first.as_str());
    let echo_version = shown["version"].as_str().unwrap().to_owned();
    assert_eq!(shown["name"], "echo");

    // The tag moves to another artifact: what was published stays what it was.
    let retagged = push(
        &f.signed.join("echo_v2.wasm"),
        &oci("tools/echo:stable"),
        &registry,
        None,
    );
    assert_ne!(retagged, first);
    let (status, versions) = s.json("GET", "/v1/tools/echo", Some(&f.admin), b"");
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
    assert_eq!(versions["versions"][0]["source"]["oci"], pinned.as_str());
    let (status, answer) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        br#"{"said":"hi"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"]["said"], "hi", "{answer}");

    // Published again by the same tag: now the artifact the tag names, its own pin.
    let (status, v2) = publish(&s, &f.publisher, &oci("tools/echo:stable"));
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["version"], "0.2.0");
    assert_eq!(
        v2["source"]["oci"],
        format!("{}@{retagged}", oci("tools/echo:stable"))
    );
    // By digest alone (no tag): pinned as named.
    let by_digest = format!("{}@{word_count}", oci("tools/wc"));
    let (status, wc) = publish(&s, &f.publisher, &by_digest);
    assert_eq!(status, 201, "{wc}");
    assert_eq!(wc["name"], "word-count");
    assert_eq!(wc["source"]["oci"], by_digest.as_str());
    // The first artifact again, by its digest: that name and version exist.
    let e = refused(
        &publish(&s, &f.publisher, &format!("{}@{first}", oci("tools/echo"))),
        409,
        "already_published",
    );
    assert!(e.contains(&echo_version), "{e}");

    // Each refusal names what to do, and changes nothing.
    let before = listed(&s, &f.admin);
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/echo:nope")),
        422,
        "not_in_registry",
    );
    assert!(e.contains("tools/echo:nope was not found"), "{e}");
    refused(
        &publish(&s, &f.publisher, &oci("tools/stranger:1")),
        403,
        "unknown_key",
    );
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/altered:1")),
        502,
        "registry_digest_mismatch",
    );
    assert!(e.contains("does not match its digest"), "{e}");
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/foreign:1")),
        422,
        "not_a_component",
    );
    assert!(
        e.contains("is not a Wasm component artifact") && e.contains("cordon push"),
        "{e}"
    );
    let e = refused(
        &publish(&s, &f.publisher, "oci://tools/echo:1"),
        422,
        "invalid_reference",
    );
    assert!(e.contains("oci://HOST[:PORT]/REPOSITORY:TAG"), "{e}");
    let e = refused(
        &publish(&s, &f.publisher, &oci("tools/echo")),
        422,
        "invalid_reference",
    );
    assert!(e.contains("no tag and no digest"), "{e}");
    refused(
        &s.json(
            "POST",
            "/v1/tools",
            Some(&f.publisher),
            br#"{"oci":"x","also":1}"#,
        ),
        422,
        "invalid_body",
    );
    // Only a publisher may make the server pull.
    refused(
        &publish(&s, &f.invoker, &oci("tools/echo:stable")),
        403,
        "forbidden",
    );
    assert_eq!(listed(&s, &f.admin), before);
    assert_eq!(before.len(), 3, "{before:?}");

    // The record: one publish event each, carrying the pinned reference.
    let (status, page) = s.json(
        "GET",
        "/v1/audit/events?kind=tool.publish",
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 200, "{page}");
    // Newest first.
    let sources: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["event"]["action"]["source"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        sources,
        [
            pinned.clone(),
            format!("{}@{retagged}", oci("tools/echo:stable")),
            by_digest.clone()
        ]
    );
    // `cordon tools` shows where each came from.
    let out = cordon()
        .args(["tools", "--server", &format!("http://{}", s.addr)])
        .env("CORDON_API_KEY", &f.admin)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&by_digest), "{text}");
    drop(s);

    // The registry password never reached a log.
    for log in ["closed", "stale", "small", "open"] {
        let text = std::fs::read_to_string(f.data.join(format!("{log}.log"))).unwrap();
        assert!(
            !text.contains(PASSWORD) && !text.contains(WRONG),
            "{log}: {text}"
        );
    }
}

#[test]
fn a_registry_served_over_tls_with_its_own_ca_is_pulled_from() {
    let f = fixture("oci-publish-tls");
    let ca = TestCa::new().unwrap();
    let registry = TestRegistry::start(&Options {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..ca.options()
    })
    .unwrap();
    let host = registry.host();
    let ca_file = f.data.join("registry-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let reference = format!("oci://{host}/tools/echo:1");
    let digest = push(
        &f.signed.join("echo.wasm"),
        &reference,
        &registry,
        Some(&ca_file),
    );
    let secret_key = new_secret_key();
    set_secret(&f.data, &secret_key, "registry-password", PASSWORD);
    let login = format!(
        "[[registries.login]]\nregistry = \"{host}\"\nusername = \"{USER}\"\npassword_secret = \"registry-password\"\n"
    );

    // Without the CA, the registry's certificate is not trusted.
    let s = serve(
        &f,
        &secret_key,
        &format!("[registries]\nallow_private = [\"127.0.0.0/8\"]\n{login}"),
        &[],
        "no-ca",
    );
    let e = refused(
        &publish(&s, &f.publisher, &reference),
        502,
        "registry_error",
    );
    assert!(e.contains(&host), "{e}");
    drop(s);

    // With it (a path relative to the config file, read at start by the confined server).
    let s = serve(
        &f,
        &secret_key,
        &format!(
            "[registries]\nallow_private = [\"127.0.0.0/8\"]\nca = [\"registry-ca.pem\"]\n{login}"
        ),
        &[],
        "ca",
    );
    let (status, tool) = publish(&s, &f.publisher, &reference);
    assert_eq!(status, 201, "{tool}");
    assert_eq!(tool["source"]["oci"], format!("{reference}@{digest}"));
    let (status, answer) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        br#"{"over":"tls"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"]["over"], "tls");
}

/// A login whose secret is not in the store stops the start with what to do.
#[test]
fn a_registry_login_without_its_secret_stops_the_start() {
    let f = fixture("oci-publish-nosecret");
    let config = f.data.join("cordon.toml");
    std::fs::write(
        &config,
        "[[registries.login]]\nregistry = \"registry.example\"\nusername = \"u\"\npassword_secret = \"missing\"\n",
    )
    .unwrap();
    let out = cordon()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
            "--data",
            f.data.to_str().unwrap(),
        ])
        .env("CORDON_SECRET_KEY", new_secret_key())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("cordon secret set missing"), "{e}");
}

/// Publishing by reference from a registry stand-in (`standin.rs`), through the server's own
/// pull: a registry that closes every connection after its answer without saying so is pulled
/// from every time (one pull in six used to fail); redirects of the manifest or the blob and
/// token realms aimed at loopback, the metadata address or the unspecified address, in any
/// spelling, answer `403 registry_address_refused` naming the host, reach nothing and store
/// nothing; a pin the manifest does not have is a digest mismatch; a host that resolves to
/// loopback is refused and one that does not resolve says so.
#[test]
fn a_registry_stand_in_is_pulled_from_every_time_and_its_hostile_answers_are_refused() {
    let f = fixture("oci-publish-standin");
    let echo = std::fs::read(f.signed.join("echo.wasm")).unwrap();
    let built =
        cordon_oci::artifact::build(&echo, "echo", "0.1.0", "2025-12-01T00:00:00Z").unwrap();
    let artifact = standin::Artifact {
        manifest: built.manifest,
        blobs: vec![
            (built.config_digest, built.config),
            (built.layer_digest, echo.clone()),
        ],
    };
    // The stand-ins are on 127.0.0.2, the one address the server may reach; a listener on
    // 127.0.0.1 stands for what a refused address would reach.
    let allowed = std::net::IpAddr::from([127, 0, 0, 2]);
    let start =
        |behaviour: Behaviour| StandIn::start(allowed, artifact.clone(), behaviour).unwrap();
    let trap = StandIn::start(
        [127, 0, 0, 1].into(),
        artifact.clone(),
        Behaviour::default(),
    )
    .unwrap();
    let port = trap.host().rsplit_once(':').unwrap().1.to_owned();
    let registry = start(Behaviour::default());
    let loopback = format!("127.0.0.1:{port}: 127.0.0.1 is loopback");
    let mut hostile = Vec::new();
    for (base, named) in [
        (format!("http://127.0.0.1:{port}"), loopback.clone()),
        (format!("http://2130706433:{port}"), loopback.clone()),
        (format!("http://0177.0.0.1:{port}"), loopback.clone()),
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
        for behaviour in [
            Behaviour {
                redirect_manifests: Some(base.clone()),
                ..Behaviour::default()
            },
            Behaviour {
                redirect_blobs: Some(base.clone()),
                ..Behaviour::default()
            },
            Behaviour {
                realm: Some(format!("{base}/token")),
                ..Behaviour::default()
            },
        ] {
            hostile.push((format!("{behaviour:?}"), start(behaviour), named.clone()));
        }
    }
    let insecure: Vec<String> = std::iter::once(registry.host())
        .chain(hostile.iter().map(|(_, s, _)| s.host()))
        .map(|h| format!("\"{h}\""))
        .collect();
    let config = format!(
        "[registries]\nallow_private = [\"127.0.0.2/32\"]\ninsecure = [{}]\n",
        insecure.join(", ")
    );
    let s = serve(&f, &new_secret_key(), &config, &[], "standin");

    // 30 publishes in a row: the first publishes, every other one pulled the same artifact
    // and was then refused as already published.
    let reference = format!("oci://{}/tools/echo:1", registry.host());
    for i in 0..30 {
        let answer = publish(&s, &f.publisher, &reference);
        if i == 0 {
            assert_eq!(answer.0, 201, "{}", answer.1);
        } else {
            refused(&answer, 409, "already_published");
        }
    }

    for (what, hostile, named) in &hostile {
        let e = refused(
            &publish(
                &s,
                &f.publisher,
                &format!("oci://{}/tools/x:1", hostile.host()),
            ),
            403,
            "registry_address_refused",
        );
        assert!(
            e.contains(named.as_str()) && e.contains("registries.allow_private"),
            "{what}: {e}"
        );
    }
    let pin = format!("sha256:{}", "0".repeat(64));
    let e = refused(
        &publish(&s, &f.publisher, &format!("{reference}@{pin}")),
        502,
        "registry_digest_mismatch",
    );
    assert!(e.contains(&pin) && e.contains("check the digest"), "{e}");
    let e = refused(
        &publish(
            &s,
            &f.publisher,
            &format!("oci://localhost:{port}/tools/x:1"),
        ),
        403,
        "registry_address_refused",
    );
    assert!(
        e.contains(&format!(
            "localhost:{port}: resolves to an address that is not public"
        )),
        "{e}"
    );
    let e = refused(
        &publish(&s, &f.publisher, "oci://cordon-test.invalid/tools/x:1"),
        502,
        "registry_unreachable",
    );
    assert!(
        e.contains("cannot resolve the host name of cordon-test.invalid:443"),
        "{e}"
    );

    assert_eq!(
        trap.seen(),
        Vec::<String>::new(),
        "a refused address was reached"
    );
    assert_eq!(
        listed(&s, &f.admin),
        [("echo".to_owned(), "0.1.0".to_owned())]
    );
}
