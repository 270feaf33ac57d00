//! Client certificates as callers (issue 40): a workload CA made here (rcgen), `[[auth.mtls]]`
//! mapping a SPIFFE ID prefix to an invoker, curl presenting the certificates. A mapped
//! certificate invokes with no other credential, and is recorded with its fingerprint; quotas
//! and decisions apply to it as to any caller; another CA's certificate and an expired one are
//! refused in the handshake; an unmapped one names nobody (a key still works beside it); with
//! `required`, a client without a certificate cannot connect.

use crate::harness::{Server, fixture};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A certificate authority of this test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A client certificate for `uri` (a SAN) named `name`, valid now unless `expired`, written
    /// to `dir/{stem}.pem` and `dir/{stem}.key`; its paths and its SHA-256 fingerprint.
    fn client(
        &self,
        dir: &Path,
        stem: &str,
        name: &str,
        uri: &str,
        expired: bool,
    ) -> (PathBuf, PathBuf, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .subject_alt_names
            .push(SanType::URI(uri.try_into().unwrap()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (pem, key_file) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&pem, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        use sha2::Digest as _;
        let fingerprint = format!("sha256:{}", hex::encode(sha2::Sha256::digest(cert.der())));
        (pem, key_file, fingerprint)
    }
}

/// curl with the server's CA and, when given, a client certificate: (exit code, the response
/// body then a newline and the status, stderr).
fn curl(server_ca: &Path, client: Option<(&Path, &Path)>, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&str> = Vec::new();
    if let Some((cert, key)) = client {
        all.extend([
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]);
    }
    all.extend(["-w", "\n%{http_code}"]);
    all.extend(args);
    crate::tls::curl_trusting(server_ca, &all)
}

/// The status and JSON body of what `curl` printed.
fn answer(out: &str) -> (u16, Value) {
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", out));
    (
        status.parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A bundle that keeps workload certificates away from word-count, read through the fields
/// a certificate caller's input document has.
const BUNDLE: &str = r#"
package cordon
import rego.v1

default allow := true

deny contains "workloads of acme.example may not count words" if {
	input.caller.kind == "certificate"
	startswith(input.caller.certificate.uris[_], "spiffe://acme.example/")
	input.tool.name == "word-count"
}
"#;

#[test]
fn client_certificates_name_callers_and_others_are_refused_in_the_handshake() {
    let f = fixture("tls-clients");
    let dir = f.data.join("pki");
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    // The server's own certificate, from one CA; clients' from a workload CA.
    let server_ca = Ca::new("cordon test server CA");
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &server_ca.cert, &server_ca.key)
        .unwrap();
    std::fs::write(dir.join("server-ca.pem"), server_ca.cert.pem()).unwrap();
    std::fs::write(dir.join("tls/cert.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("tls/key.pem"), server_key.serialize_pem()).unwrap();
    let workloads = Ca::new("acme workload CA");
    std::fs::write(dir.join("workload-ca.pem"), workloads.cert.pem()).unwrap();
    let (agent, agent_key, agent_fp) = workloads.client(
        &dir,
        "agent",
        "agent-a",
        "spiffe://acme.example/agents/a",
        false,
    );
    let (other, other_key, _) =
        workloads.client(&dir, "other", "other", "spiffe://other.example/x", false);
    let (old, old_key, _) = workloads.client(
        &dir,
        "old",
        "agent-old",
        "spiffe://acme.example/agents/old",
        true,
    );
    let stranger_ca = Ca::new("somebody else's CA");
    let (stranger, stranger_key, _) = stranger_ca.client(
        &dir,
        "stranger",
        "agent-a",
        "spiffe://acme.example/agents/a",
        false,
    );
    let config = dir.join("cordon.toml");
    std::fs::write(
        &config,
        r#"
tls_cert = "tls/cert.pem"
tls_key = "tls/key.pem"
tls_client_ca = "workload-ca.pem"

[[auth.mtls]]
san_uri = "spiffe://acme.example/agents/*"
name = "acme agents"
role = "invoker"

[quotas.callers."cert:uri:spiffe://acme.example/agents/a"]
executions_per_day = 2
"#,
    )
    .unwrap();
    let log = dir.join("server.log");
    let s = Server::start_full(
        &f.data,
        &["--config", config.to_str().unwrap()],
        &[],
        std::fs::File::create(&log).unwrap().into(),
    );
    let base = format!("https://{}", s.addr);
    let ca = dir.join("server-ca.pem");
    for tool in ["echo.wasm", "word_count.wasm"] {
        let (code, out, err) = curl(
            &ca,
            None,
            &[
                "-H",
                &format!("authorization: Bearer {}", f.publisher),
                "-H",
                "content-type: application/wasm",
                "--data-binary",
                &format!("@{}", f.signed.join(tool).display()),
                &format!("{base}/v1/tools"),
            ],
        );
        assert_eq!((code, answer(&out).0), (0, 201), "{out} {err}");
    }
    let invoke = |client: Option<(&Path, &Path)>, tool: &str, text: &str| {
        curl(
            &ca,
            client,
            &[
                "-H",
                "content-type: application/json",
                "--data",
                &json!({"text": text}).to_string(),
                &format!("{base}/v1/tools/{tool}/invoke"),
            ],
        )
    };

    // The mapped certificate is the credential: who it is, what it may do, its record.
    let agent_pair = Some((agent.as_path(), agent_key.as_path()));
    let (code, out, err) = curl(&ca, agent_pair, &[&format!("{base}/v1/whoami")]);
    let (status, me) = answer(&out);
    assert_eq!((code, status), (0, 200), "{out} {err}");
    assert_eq!(me["via"], "certificate");
    assert_eq!(me["id"], "cert:uri:spiffe://acme.example/agents/a");
    assert_eq!(me["name"], "acme agents");
    assert_eq!(me["roles"], json!(["invoker"]));
    assert_eq!(me["certificate"], agent_fp.as_str());
    let (code, out, err) = invoke(agent_pair, "echo", "from a workload");
    let (status, called) = answer(&out);
    assert_eq!((code, status), (0, 200), "{out} {err}");
    assert_eq!(called["output"], json!({"text": "from a workload"}));
    let record = record_of(&s, &f.auditor, called["execution_id"].as_str().unwrap());
    assert_eq!(record["caller"], "cert:uri:spiffe://acme.example/agents/a");
    assert_eq!(record["caller_name"], "acme agents");
    assert_eq!(record["caller_certificate"], agent_fp.as_str());
    // An invoker, not a publisher.
    let (_, out, _) = curl(
        &ca,
        agent_pair,
        &[
            "-H",
            "content-type: application/wasm",
            "--data-binary",
            &format!("@{}", f.signed.join("nap.wasm").display()),
            &format!("{base}/v1/tools"),
        ],
    );
    assert_eq!(answer(&out).0, 403, "{out}");

    // Decisions read what the certificate says.
    let bundle = json!({"modules": [{"path": "policy.rego", "text": BUNDLE}]}).to_string();
    let (code, out, err) = curl(
        &ca,
        None,
        &[
            "-X",
            "PUT",
            "-H",
            &format!("authorization: Bearer {}", f.admin),
            "-H",
            "content-type: application/json",
            "--data",
            &bundle,
            &format!("{base}/v1/decisions"),
        ],
    );
    assert_eq!((code, answer(&out).0), (0, 200), "{out} {err}");
    let (_, out, _) = invoke(agent_pair, "word-count", "one two");
    let (status, denied) = answer(&out);
    assert_eq!(status, 403, "{out}");
    assert_eq!(denied["error"]["code"], "denied_by_policy");
    assert!(
        denied["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workloads of acme.example may not count words"),
        "{denied}"
    );
    // A key caller is not a workload.
    let (_, out, _) = curl(
        &ca,
        None,
        &[
            "-H",
            &format!("authorization: Bearer {}", f.invoker),
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"text":"one two"}"#,
            &format!("{base}/v1/tools/word-count/invoke"),
        ],
    );
    assert_eq!(answer(&out).0, 200, "{out}");

    // The quota configured for its id: two executions a day, the denied call not among them.
    let (_, out, _) = invoke(agent_pair, "echo", "second");
    assert_eq!(answer(&out).0, 200, "{out}");
    let (_, out, _) = invoke(agent_pair, "echo", "third");
    let (status, refused) = answer(&out);
    assert_eq!(status, 429, "{out}");
    assert_eq!(refused["error"]["code"], "quota_exceeded", "{refused}");

    // A certificate the workload CA signed that no entry maps names nobody; a key beside it
    // is the caller.
    let other_pair = Some((other.as_path(), other_key.as_path()));
    let (code, out, err) = invoke(other_pair, "echo", "unmapped");
    let (status, refused) = answer(&out);
    assert_eq!((code, status), (0, 401), "{out} {err}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("matches no [[auth.mtls]] entry"),
        "{refused}"
    );
    let (code, out, err) = curl(
        &ca,
        other_pair,
        &[
            "-H",
            &format!("authorization: Bearer {}", f.invoker),
            &format!("{base}/v1/whoami"),
        ],
    );
    let (status, me) = answer(&out);
    assert_eq!((code, status), (0, 200), "{out} {err}");
    assert_eq!(
        (me["via"].as_str(), me["name"].as_str()),
        (Some("key"), Some("inv"))
    );

    // Another CA's certificate with the very same names, and an expired one: no handshake.
    for (cert, key, what) in [
        (&stranger, &stranger_key, "another CA's"),
        (&old, &old_key, "an expired"),
    ] {
        let (code, out, err) = invoke(Some((cert, key)), "echo", "refused");
        // Under TLS 1.3 the client sends its certificate after it considers the handshake
        // done, so curl words the server's alert in more than one way; no answer came.
        assert_ne!(code, 0, "{what} certificate was served: {out}");
        assert_eq!(answer(&out).0, 0, "{what}: {out} {err}");
    }
    // Each refusal is a security event in the log, with the reason.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let refused: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("client certificate refused in the TLS handshake"))
            .collect();
        if refused.len() >= 2 || Instant::now() > until {
            assert_eq!(refused.len(), 2, "{text}");
            assert!(refused[0].contains("UnknownIssuer"), "{}", refused[0]);
            assert!(refused[1].contains("certificate expired"), "{}", refused[1]);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Without a certificate, optional mode connects: the request needs a key or a token.
    let (code, out, _) = invoke(None, "echo", "anonymous");
    assert_eq!((code, answer(&out).0), (0, 401), "{out}");
    drop(s);

    // `required`: no certificate, no connection; the mapped one as before.
    let s = Server::start_with(
        &f.data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--tls-client-auth",
            "required",
        ],
    );
    let base = format!("https://{}", s.addr);
    let (code, out, err) = curl(
        &ca,
        None,
        &[
            "-H",
            &format!("authorization: Bearer {}", f.invoker),
            &format!("{base}/v1/whoami"),
        ],
    );
    assert_ne!(code, 0, "served without a certificate: {out}");
    assert!(!err.is_empty());
    let (code, out, err) = curl(&ca, agent_pair, &[&format!("{base}/v1/whoami")]);
    assert_eq!((code, answer(&out).0), (0, 200), "{out} {err}");
}

/// An execution's record, once the group commit has stored it.
fn record_of(s: &Server, auditor: &str, id: &str) -> Value {
    let ca = s.data.join("pki/server-ca.pem");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, out, err) = curl(
            &ca,
            None,
            &[
                "-H",
                &format!("authorization: Bearer {auditor}"),
                &format!("https://{}/v1/executions/{id}?record=true", s.addr),
            ],
        );
        let (status, record) = answer(&out);
        if status == 404 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!((code, status), (0, 200), "{out} {err}");
        return record;
    }
}
