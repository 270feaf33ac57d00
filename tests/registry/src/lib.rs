//! A real OCI registry for tests, nothing mocked: Debian's `docker-registry` (the CNCF
//! distribution registry, `apt-get install -y docker-registry`) serving a fresh directory under
//! the workspace's `target/` on a free loopback port, optionally behind htpasswd basic auth or a
//! token service ([`TokenService`], the registry token flow), and TLS, stopped and its directory removed when the [`TestRegistry`] is dropped. No system
//! service is used or touched (the package's own service is never started by the tests).
//!
//! The binary is taken from `CORDON_REGISTRY_BIN` when set, else `/usr/bin/docker-registry`.

pub mod standin;
mod token;

pub use token::TokenService;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the registry may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What the registry asks of its clients.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Basic auth with this user and password (an htpasswd file with its bcrypt hash).
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with this certificate and key (PEM) instead of plain HTTP.
    pub tls: Option<(String, String)>,
    /// Bearer tokens from this token service (its realm and certificate) instead of basic auth.
    pub token: Option<(String, String)>,
}

/// A certificate authority made for one test, and a certificate from it for `127.0.0.1` (the
/// address [`TestRegistry::host`] names).
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA's certificate (PEM): what a client is told to trust.
    pub ca_pem: String,
    /// The registry's certificate and key (PEM), for [`Options::tls`].
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new() -> anyhow::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cordon test registry CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let cert =
            CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &ca, &ca_key)?;
        Ok(TestCa {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Registry options serving HTTPS with this CA's certificate.
    pub fn options(&self) -> Options {
        Options {
            tls: Some((self.cert_pem.clone(), self.key_pem.clone())),
            ..Options::default()
        }
    }
}

/// A running registry owned by the test.
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    root: PathBuf,
    port: u16,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

/// The registry binary.
pub fn binary() -> anyhow::Result<PathBuf> {
    let bin = std::env::var_os("CORDON_REGISTRY_BIN")
        .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
    if !bin.exists() {
        bail!(
            "no OCI registry binary at {}: install it (`apt-get install -y docker-registry`) or set CORDON_REGISTRY_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// How one start of the registry went.
enum Started {
    Listening(TestRegistry),
    /// Another process bound the port first (the registry's log).
    PortTaken(String),
}

impl TestRegistry {
    /// Starts a registry with `options` and waits until it says it listens. A port found free
    /// may be taken by another test's server before the registry binds it: the registry then
    /// exits, and it is started again on another port.
    pub fn start(options: &Options) -> anyhow::Result<Self> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(options)? {
                Started::Listening(registry) => return Ok(registry),
                Started::PortTaken(log) if attempt >= 5 => {
                    bail!("the registry found its port taken five times: {log}")
                }
                Started::PortTaken(_) => continue,
            }
        }
    }

    fn start_once(options: &Options) -> anyhow::Result<Started> {
        let bin = binary()?;
        let mut id = [0u8; 6];
        getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let root = target_dir().join(format!("test-registry-{}", hex::encode(id)));
        std::fs::create_dir_all(root.join("data"))?;
        let port = free_port()?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            data = root.join("data").display()
        );
        if let Some((cert, key)) = &options.tls {
            std::fs::write(root.join("tls.crt"), cert)?;
            std::fs::write(root.join("tls.key"), key)?;
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                root.join("tls.crt").display(),
                root.join("tls.key").display()
            ));
        }
        if let Some((user, password)) = &options.basic_auth {
            // A low cost: the registry checks the hash on every request.
            let hash = bcrypt::hash(password, 4)?;
            std::fs::write(root.join("htpasswd"), format!("{user}:{hash}\n"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: cordon-test\n    path: {}\n",
                root.join("htpasswd").display()
            ));
        }
        if let Some((realm, cert)) = &options.token {
            std::fs::write(root.join("token-cert.pem"), cert)?;
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                token::SERVICE,
                token::ISSUER,
                root.join("token-cert.pem").display()
            ));
        }
        std::fs::write(root.join("config.yml"), config)?;
        let log = std::fs::File::create(root.join("registry.log"))?;
        let child = Command::new(&bin)
            .arg("serve")
            .arg(root.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut registry = TestRegistry { child, root, port };
        // Its own line, not a connection: another process may hold the port.
        let listening = format!("listening on 127.0.0.1:{port}");
        let started = Instant::now();
        while !registry.log().contains(&listening) {
            if let Some(status) = registry.child.try_wait()? {
                let log = registry.log();
                if log.contains("address already in use") {
                    return Ok(Started::PortTaken(log));
                }
                bail!("the registry exited ({status}): {log}");
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the registry did not start within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Started::Listening(registry))
    }

    /// `127.0.0.1:PORT`, as references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where a blob's bytes are stored (to alter them behind the registry's back).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.root
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2.min(hex.len())])
            .join(hex)
            .join("data")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
