//! Signed components end to end: keygen, sign, verify and run through the real binary, every
//! rejection with its own code, and verification before compilation.

use crate::cli::{cordon, stdout_json};
use crate::common::{SANDBOX, temp_dir};
use cordon_core::Limits;
use cordon_host::admission::{AdmissionError, SignatureCheck, admit};
use cordon_test_artifacts as guests;
use cordon_trust::{KeyId, PrivateKey, TrustStore};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A key pair on disk, a trust store naming it "acme", and a signed echo tool.
struct Setup {
    dir: PathBuf,
    key: PathBuf,
    key_id: String,
    trust: PathBuf,
    signed: PathBuf,
}

fn setup(name: &str) -> Setup {
    let dir = temp_dir(name);
    let key = dir.join("dev.pem");
    let out = cordon(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .expect("keygen prints the key id")
        .trim()
        .to_owned();
    assert!(KeyId::parse(&key_id).is_ok(), "{key_id}");
    let trust = dir.join("trust.toml");
    std::fs::write(&trust, format!("[publishers]\nacme = [\"{key_id}\"]\n")).unwrap();
    let signed = dir.join("echo.signed.wasm");
    let out = cordon(&[
        "sign",
        guests::ECHO,
        "--key",
        key.to_str().unwrap(),
        "--out",
        signed.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tool:    echo 0.1.0"));
    Setup {
        dir,
        key,
        key_id,
        trust,
        signed,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn verify(component: &Path, trust: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify",
        component.to_str().unwrap(),
        "--trust",
        trust.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cordon(&args)
}

/// Asserts `cordon verify` rejects with exit code 1 and the given code.
fn assert_rejected(out: &Output, code: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!("trusted:   no ({code})")),
        "{}",
        text(&out.stdout)
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn keygen_sign_verify_run_round_trip() {
    let s = setup("sign-round-trip");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // keygen never overwrites.
    let again = cordon(&["keygen", "--out", s.key.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));

    let out = verify(&s.signed, &s.trust, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let unsigned_digest = cordon_sandbox::digest(&cordon_test_artifacts::bytes(guests::ECHO));
    assert!(
        stdout.contains(&format!("digest:    sha256:{unsigned_digest}")),
        "{stdout}"
    );
    assert!(stdout.contains("tool:      echo 0.1.0"));
    assert!(stdout.contains(&format!("key id:    {}", s.key_id)));
    assert!(stdout.contains("signed at: 20"), "{stdout}");
    assert!(stdout.contains("publisher: acme"));
    assert!(stdout.contains("trusted:   yes"));

    let out = cordon(&[
        "run",
        s.signed.to_str().unwrap(),
        "--trust",
        s.trust.to_str().unwrap(),
        "--input",
        r#"{"signed":true}"#,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["output"]["signed"], true);
    assert_eq!(report["signer"], s.key_id.as_str());
    assert_eq!(report["digest"], unsigned_digest.as_str());
}

#[test]
fn run_requires_a_trusted_signature_unless_allowed_unsigned() {
    let s = setup("sign-run-required");
    let out = cordon(&["run", guests::ECHO, "--input", "{}"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cordon(&[
        "run",
        guests::ECHO,
        "--trust",
        s.trust.to_str().unwrap(),
        "--input",
        "{}",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("signature rejected (unsigned)"),
        "{}",
        text(&out.stderr)
    );
    let out = cordon(&[
        "run",
        guests::ECHO,
        "--allow-unsigned",
        "--input",
        "{}",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out)["signer"], serde_json::Value::Null);
}

#[test]
fn every_rejection_is_reported_with_its_code() {
    let s = setup("sign-rejections");
    let signed = std::fs::read(&s.signed).unwrap();
    let echo = cordon_test_artifacts::bytes(guests::ECHO);

    assert_rejected(&verify(Path::new(guests::ECHO), &s.trust, &[]), "unsigned");

    let truncated = write(&s.dir, "truncated.wasm", &signed[..signed.len() - 10]);
    assert_rejected(&verify(&truncated, &s.trust, &[]), "malformed_signature");

    // One byte inside the component (not the signature) changed.
    let mut changed = signed.clone();
    changed[echo.len() / 2] ^= 0x01;
    let changed = write(&s.dir, "changed.wasm", &changed);
    assert_rejected(&verify(&changed, &s.trust, &[]), "digest_mismatch");

    // One byte of the signed statement changed: the signature no longer verifies.
    let mut forged = signed.clone();
    let statement_byte = signed.len() - 64 - 8 - 32 - 1;
    forged[statement_byte] ^= 0x01;
    let forged = write(&s.dir, "forged.wasm", &forged);
    assert_rejected(&verify(&forged, &s.trust, &[]), "bad_signature");

    // A signature copied from echo onto word-count.
    let mut copied = cordon_test_artifacts::bytes(guests::WORD_COUNT);
    copied.extend_from_slice(&signed[echo.len()..]);
    let copied = write(&s.dir, "copied.wasm", &copied);
    assert_rejected(&verify(&copied, &s.trust, &[]), "digest_mismatch");

    let other_trust = write(
        &s.dir,
        "other.toml",
        format!(
            "[publishers]\nother = [\"{}\"]\n",
            PrivateKey::generate().unwrap().key_id()
        )
        .as_bytes(),
    );
    assert_rejected(&verify(&s.signed, &other_trust, &[]), "unknown_key");

    let revoked = write(
        &s.dir,
        "revoked.toml",
        format!(
            "revoked = [\"{0}\"]\n[publishers]\nacme = [\"{0}\"]\n",
            s.key_id
        )
        .as_bytes(),
    );
    assert_rejected(&verify(&s.signed, &revoked, &[]), "revoked_key");

    let policy = write(&s.dir, "policy.toml", b"publishers = [\"globex\"]\n");
    let out = verify(&s.signed, &s.trust, &["--policy", policy.to_str().unwrap()]);
    assert_rejected(&out, "publisher_not_allowed");
    assert!(text(&out.stderr).contains("allows publishers [globex], but it was signed by acme"));

    // Signed by a trusted key, but for another name than the component describes.
    let key = PrivateKey::read(&s.key).unwrap();
    let lying = cordon_trust::sign_component(&echo, &key, "word-count", "0.1.0", 1).unwrap();
    let lying = write(&s.dir, "lying.wasm", &lying);
    assert_rejected(&verify(&lying, &s.trust, &[]), "describe_mismatch");
}

#[test]
fn a_trust_directory_works_like_the_toml_file() {
    let s = setup("sign-trust-dir");
    let dir = s.dir.join("trust.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("acme.pub"), format!("# dev key\n{}\n", s.key_id)).unwrap();
    let out = verify(&s.signed, &dir, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("publisher: acme"));
    std::fs::write(dir.join("revoked"), format!("{}\n", s.key_id)).unwrap();
    assert_rejected(&verify(&s.signed, &dir, &[]), "revoked_key");
}

/// Bytes that start like a component but are not one: compiling them would fail.
fn garbage_component() -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    // A core-module section whose contents are nonsense.
    bytes.extend_from_slice(&[0x01, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]);
    bytes
}

#[tokio::test]
async fn verification_happens_before_compilation() {
    let trusted = PrivateKey::generate().unwrap();
    let mut store = TrustStore::default();
    store.add("acme", trusted.key_id()).unwrap();
    let garbage = garbage_component();
    let check = SignatureCheck::Required {
        store: &store,
        publishers: None,
    };

    // Signed by an unknown key: refused for the key, the bytes are never parsed as wasm.
    let stranger = PrivateKey::generate().unwrap();
    let signed = cordon_trust::sign_component(&garbage, &stranger, "x", "1", 1).unwrap();
    let err = admit(&SANDBOX, &signed, check, &Limits::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AdmissionError::Signature(r) if r.code() == "unknown_key"),
        "{err}"
    );

    // Unsigned garbage: refused as unsigned, not as invalid wasm.
    let err = admit(&SANDBOX, &garbage, check, &Limits::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AdmissionError::Signature(r) if r.code() == "unsigned"),
        "{err}"
    );

    // Only with a trusted signature does it reach the compiler, which then refuses it.
    let signed = cordon_trust::sign_component(&garbage, &trusted, "x", "1", 1).unwrap();
    let err = admit(&SANDBOX, &signed, check, &Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AdmissionError::Load(_)), "{err}");
}

/// `docs/signing.md`: a key from `cordon keygen` is read by openssl, and a key from
/// `openssl genpkey -algorithm ed25519` signs with cordon, with the same public key both ways.
#[test]
fn private_keys_are_interchangeable_with_openssl() {
    let s = setup("sign-openssl");
    // openssl reads cordon's key, and derives the public key the key id names.
    let out = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-in",
            s.key.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "openssl: {}", text(&out.stderr));
    let raw: [u8; 32] = out.stdout[out.stdout.len() - 32..].try_into().unwrap();
    assert_eq!(KeyId::from_bytes(raw).to_string(), s.key_id);

    // cordon signs with a key openssl generated.
    let theirs = s.dir.join("openssl.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            theirs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", text(&out.stderr));
    let signed = s.dir.join("echo.openssl.wasm");
    let out = cordon(&[
        "sign",
        guests::ECHO,
        "--key",
        theirs.to_str().unwrap(),
        "--out",
        signed.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let their_id = PrivateKey::read(&theirs).unwrap().key_id();
    let out = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-in",
            theirs.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ])
        .output()
        .unwrap();
    let raw: [u8; 32] = out.stdout[out.stdout.len() - 32..].try_into().unwrap();
    assert_eq!(KeyId::from_bytes(raw), their_id);
    let trust = s.dir.join("openssl-trust.toml");
    std::fs::write(&trust, format!("[publishers]\nacme = [\"{their_id}\"]\n")).unwrap();
    let out = cordon(&[
        "verify",
        signed.to_str().unwrap(),
        "--trust",
        trust.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A trusted key signing with a stamp at the end of u64 or i64 (or just past year 9999): every
/// command refuses it with a clear error and none panics.
#[test]
fn far_future_signing_times_are_refused_by_every_command() {
    let s = setup("sign-future");
    let key = PrivateKey::read(&s.key).unwrap();
    let wasm = std::fs::read(guests::ECHO).unwrap();
    for stamp in [u64::MAX, i64::MAX as u64, 253_402_300_800] {
        let bytes = cordon_trust::sign_component(&wasm, &key, "echo", "0.1.0", stamp).unwrap();
        let path = s.dir.join(format!("future-{stamp}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        let p = path.to_str().unwrap();
        let t = s.trust.to_str().unwrap();
        for args in [
            vec!["verify", p, "--trust", t],
            vec!["run", p, "--trust", t, "--input", "{}"],
            vec!["inspect", p],
        ] {
            let out = cordon(&args);
            let err = text(&out.stderr);
            assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            if args[0] != "inspect" {
                assert!(!out.status.success(), "{args:?} accepted stamp {stamp}");
                assert!(err.contains("year 9999"), "{args:?}: {err}");
            }
        }
    }
}
