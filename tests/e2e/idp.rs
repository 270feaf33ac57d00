//! A local identity provider for the identity tests: RSA and Ed25519 signing keys made for the
//! test, their JWKS served over HTTPS (`jwks_server.py`, with a certificate from a CA made here
//! and given to cordon as `jwks_ca`), and tokens signed with them.

use crate::common::temp_dir;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The issuer identifier the tokens carry (an identifier: nothing is fetched from it).
pub const ISS: &str = "https://id.cordon.test";

pub struct Idp {
    pub dir: PathBuf,
    pub rsa: EncodingKey,
    /// The RSA public key as PEM: what an algorithm-confusion attack uses as an HMAC secret.
    pub rsa_public_pem: Vec<u8>,
    pub ed: EncodingKey,
    pub jwks_url: String,
    server: Child,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

impl Idp {
    pub fn start(name: &str) -> Idp {
        let dir = temp_dir(&format!("idp-{name}"));
        let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
        // RSA 2048 (openssl: fast to generate, and not a key any other test shares).
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &p("rsa.pem"),
        ]);
        openssl(&[
            "pkey",
            "-in",
            &p("rsa.pem"),
            "-pubout",
            "-out",
            &p("rsa-pub.pem"),
        ]);
        // PKCS#1 DER, the form jsonwebtoken signs with.
        openssl(&[
            "rsa",
            "-in",
            &p("rsa.pem"),
            "-traditional",
            "-outform",
            "DER",
            "-out",
            &p("rsa.der"),
        ]);
        let modulus = openssl(&["rsa", "-in", &p("rsa.pem"), "-noout", "-modulus"]);
        let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
        let ed = cordon_trust::PrivateKey::generate().unwrap();
        ed.write_new(&dir.join("ed.pem")).unwrap();
        let ed_public = *ed.key_id().as_bytes();
        std::fs::write(
            dir.join("jwks.json"),
            json!({"keys": [
                {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
                 "n": B64.encode(&n), "e": "AQAB"},
                {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "use": "sig",
                 "x": B64.encode(ed_public)},
            ]})
            .to_string(),
        )
        .unwrap();
        // A CA made for this test, and the JWKS host's certificate from it.
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cordon identity test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let host_key = KeyPair::generate().unwrap();
        let host = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&host_key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("host.pem"), host.pem()).unwrap();
        std::fs::write(dir.join("host-key.pem"), host_key.serialize_pem()).unwrap();
        let script = Path::new(cordon_test_artifacts::ROOT).join("tests/e2e/jwks_server.py");
        let mut server = Command::new("python3")
            .args([
                script.to_str().unwrap(),
                dir.to_str().unwrap(),
                &p("host.pem"),
                &p("host-key.pem"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Idp {
            rsa: EncodingKey::from_rsa_der(&std::fs::read(dir.join("rsa.der")).unwrap()),
            rsa_public_pem: std::fs::read(dir.join("rsa-pub.pem")).unwrap(),
            ed: EncodingKey::from_ed_der(&pem_der(
                &std::fs::read_to_string(dir.join("ed.pem")).unwrap(),
            )),
            jwks_url: format!("https://127.0.0.1:{}/jwks.json", port.trim()),
            dir,
            server,
        }
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        std::fs::read_to_string(self.dir.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// A server config file trusting this issuer, with `extra` TOML after it; its path.
    pub fn config(&self, extra: &str) -> PathBuf {
        let path = self.dir.join("cordon.toml");
        std::fs::write(
            &path,
            format!(
                r#"[auth]
scopes_supported = ["cordon"]

[[auth.oidc]]
issuer = "{ISS}"
audiences = ["cordon"]
jwks = "{}"
jwks_ca = "ca.pem"
role_claim = "groups"
roles = {{ "tool-users" = "invoker", "platform-admins" = "admin" }}

{extra}
"#,
                self.jwks_url
            ),
        )
        .unwrap();
        path
    }
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims for `sub`, valid now for five minutes, for audience `cordon`.
pub fn claims(sub: &str, groups: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": ISS, "sub": sub, "aud": "cordon", "groups": groups,
        "email": format!("{sub}@cordon.test"),
        "iat": now, "nbf": now - 1, "exp": now + 300,
    })
}

pub fn sign(key: &EncodingKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A token of `claims` with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).to_string()),
        B64.encode(claims.to_string())
    )
}

/// `token` with its payload replaced by `claims`, the signature kept.
pub fn tampered(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}
