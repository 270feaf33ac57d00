//! OCI registries end to end, against real ones (Debian's `docker-registry`, started per test
//! on a free port): `cordon push` of a signed tool, read back by another OCI client (skopeo),
//! copied by it to a second registry and still the same signed bytes there; and what `push`
//! refuses, with the error a user can act on.

use crate::harness::{cordon, fixture};
use cordon_oci::{Credentials, OciRef, RegistryOptions};
use cordon_test_registry::{Options, TestRegistry};
use sha2::{Digest, Sha256};
use std::process::Command;

const USER: &str = "tester";
const PASSWORD: &str = "pw-for-the-test-registry";

fn authed() -> TestRegistry {
    TestRegistry::start(&Options {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Options::default()
    })
    .unwrap()
}

/// `cordon push` with the test registry's credentials (password from the environment).
fn push(file: &str, reference: &str, insecure: &str) -> std::process::Output {
    cordon()
        .args([
            "push",
            file,
            reference,
            "--insecure-registry",
            insecure,
            "--username",
            USER,
        ])
        .env("CORDON_REGISTRY_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

/// Runs skopeo; its standard output.
pub(crate) fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (apt-get install -y skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn a_pushed_tool_is_an_oci_artifact_other_clients_copy_without_breaking_it() {
    let f = fixture("oci-push");
    let registry = authed();
    let host = registry.host();
    let file = f.signed.join("echo.wasm");
    let signed = std::fs::read(&file).unwrap();
    let version = cordon_trust::find_signature(&signed)
        .unwrap()
        .unwrap()
        .statement
        .version;

    let out = push(
        file.to_str().unwrap(),
        &format!("oci://{host}/tools/echo"),
        &host,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let pushed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pushed:"))
        .unwrap()
        .trim()
        .to_owned();
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest:"))
        .unwrap()
        .trim()
        .to_owned();
    // Tagged with the signed version, pinned by the manifest's digest.
    assert_eq!(
        pushed,
        format!("oci://{host}/tools/echo:{version}@{digest}")
    );
    assert!(!stdout.contains(PASSWORD) && !String::from_utf8_lossy(&out.stderr).contains(PASSWORD));

    // Another OCI client reads the manifest: its digest is the one printed, the layout is the
    // Wasm OCI artifact, the one layer is the signed file.
    let creds = format!("{USER}:{PASSWORD}");
    let source = format!("docker://{host}/tools/echo:{version}");
    let manifest = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &source,
    ]);
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&manifest))),
        digest
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        manifest["layers"][0]["digest"],
        format!("sha256:{}", hex::encode(Sha256::digest(&signed)))
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        version.as_str()
    );

    // Copied by skopeo to a second registry: the same manifest digest, and the component
    // pulled from there is the signed file, byte for byte, its signature still verifying.
    let mirror = authed();
    let target = format!("docker://{}/mirror/echo:{version}", mirror.host());
    skopeo(&[
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        &creds,
        "--dest-creds",
        &creds,
        &source,
        &target,
    ]);
    let options = RegistryOptions {
        insecure: vec![mirror.host()],
        ..RegistryOptions::default()
    };
    let copied = cordon_oci::pull(
        &OciRef::parse(&format!("oci://{}/mirror/echo@{digest}", mirror.host())).unwrap(),
        &Credentials::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        },
        &options,
    )
    .await
    .unwrap();
    assert_eq!(copied.component, signed);
    let copy = f.data.join("copied.wasm");
    std::fs::write(&copy, &copied.component).unwrap();
    let out = cordon()
        .args([
            "verify",
            copy.to_str().unwrap(),
            "--trust",
            f.data.join("trust.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn push_refuses_what_it_cannot_vouch_for_and_says_what_to_do() {
    let f = fixture("oci-push-refusals");
    let registry = authed();
    let host = registry.host();
    let signed = f.signed.join("echo.wasm");
    let signed = signed.to_str().unwrap();
    let target = format!("oci://{host}/tools/echo:1");
    let refused = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains(PASSWORD), "{stderr}");
        stderr
    };

    // An unsigned component.
    let e = refused(push(crate::harness::guest_echo(), &target, &host));
    assert!(e.contains("not signed") && e.contains("cordon sign"), "{e}");
    // A reference without a registry host, or not oci://.
    let e = refused(push(signed, "oci://tools/echo:1", &host));
    assert!(e.contains("oci://HOST[:PORT]/REPOSITORY:TAG"), "{e}");
    let e = refused(push(signed, &format!("{host}/tools/echo:1"), &host));
    assert!(e.contains("does not start with oci://"), "{e}");
    // `cordon push SIGNED TARGET` with these extra arguments and environment.
    let attempt = |extra: &[&str], env: &[(&str, &std::ffi::OsStr)]| {
        let mut command = cordon();
        command.args(["push", signed, &target]).args(extra);
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let insecure_as_user = ["--insecure-registry", host.as_str(), "--username", USER];
    let wrong = std::ffi::OsStr::new("wrong");
    let right = std::ffi::OsStr::new(PASSWORD);
    let nowhere = f.data.join("no-docker-config");
    // A user name without a password; a wrong password; none at all.
    let e = refused(attempt(&insecure_as_user, &[]));
    assert!(e.contains("CORDON_REGISTRY_PASSWORD"), "{e}");
    let e = refused(attempt(
        &insecure_as_user,
        &[("CORDON_REGISTRY_PASSWORD", wrong)],
    ));
    assert!(e.contains("refused access"), "{e}");
    let e = refused(attempt(
        &["--insecure-registry", &host],
        &[("DOCKER_CONFIG", nowhere.as_os_str())],
    ));
    assert!(e.contains("refused access"), "{e}");
    // Plain HTTP without naming the registry insecure: HTTPS is tried, and the error says how.
    let e = refused(attempt(
        &["--username", USER],
        &[("CORDON_REGISTRY_PASSWORD", right)],
    ));
    assert!(e.contains(&format!("--insecure-registry {host}")), "{e}");

    // The credentials `docker login` stored are used when none are given.
    let docker = f.data.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{USER}:{PASSWORD}"),
    );
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let out = attempt(
        &["--insecure-registry", &host],
        &[("DOCKER_CONFIG", docker.as_os_str())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing of the refused pushes reached the registry: only the tag of the one that worked.
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker://{host}/tools/echo"),
    ]);
    let tags: serde_json::Value = serde_json::from_slice(&tags).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["1"]));
}
