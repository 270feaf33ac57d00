//! How the commands that reach an OCI registry (`cordon push`) are told where and who to be:
//! credentials (a user name with the password from the environment or standard input, never
//! from the command line; else what `docker login` stored; else anonymous), registries reached
//! over plain HTTP (none unless named), extra CA certificates, and a time bound.

use clap::Args;
use cordon_oci::{Credentials, RegistryOptions};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

/// The environment variable that carries the registry password (never an argument: argv is
/// visible to every user of the machine).
pub const PASSWORD_ENV: &str = "CORDON_REGISTRY_PASSWORD";

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// User name at the registry; the password comes from CORDON_REGISTRY_PASSWORD or
    /// --password-stdin. Without it: the credentials `docker login` stored for the registry
    /// (`auths` of $DOCKER_CONFIG/config.json or ~/.docker/config.json), else anonymous.
    #[arg(long, env = "CORDON_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Read the registry password from standard input (its first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// A registry (HOST or HOST:PORT, as in the reference) to reach over plain HTTP; repeatable.
    /// Only for a registry on a network you trust: anyone on the path can read and alter what
    /// is sent.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,
    /// A PEM CA certificate to trust for registries besides the system's roots; repeatable (the
    /// environment variable names one).
    #[arg(long = "registry-ca", value_name = "FILE", env = "CORDON_REGISTRY_CA")]
    pub ca: Vec<PathBuf>,
    /// Longest the transfer may take, in seconds.
    #[arg(long = "registry-timeout", value_name = "SECS", default_value_t = cordon_oci::DEFAULT_TIMEOUT.as_secs())]
    pub timeout_secs: u64,
}

impl RegistryArgs {
    pub fn options(&self) -> anyhow::Result<RegistryOptions> {
        let extra_ca_pem = self
            .ca
            .iter()
            .map(|path| {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read the CA certificate {}: {e}", path.display())
                })?;
                if !pem.starts_with(b"-----BEGIN CERTIFICATE-----") {
                    anyhow::bail!("{} is not a PEM certificate", path.display());
                }
                Ok(pem)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(RegistryOptions {
            insecure: self.insecure.clone(),
            extra_ca_pem,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            ..RegistryOptions::default()
        })
    }

    /// Who to be at `registry` (`host` or `host:port`).
    pub fn credentials(&self, registry: &str) -> anyhow::Result<Credentials> {
        let Some(username) = &self.username else {
            if self.password_stdin {
                anyhow::bail!("--password-stdin needs --username");
            }
            return Ok(cordon_oci::docker_credentials(registry)?.unwrap_or(Credentials::Anonymous));
        };
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            std::env::var(PASSWORD_ENV).map_err(|_| {
                anyhow::anyhow!(
                    "--username needs a password: set {PASSWORD_ENV} or pass --password-stdin"
                )
            })?
        };
        Ok(Credentials::Basic {
            username: username.clone(),
            password,
        })
    }
}

/// The error, with what to do when the likely cause is a registry that serves plain HTTP.
pub fn explain(
    e: cordon_oci::OciError,
    reference: &cordon_oci::OciRef,
    args: &RegistryArgs,
) -> anyhow::Error {
    let plain_http_likely = matches!(e, cordon_oci::OciError::Registry { .. })
        && !args.insecure.contains(&reference.registry);
    if plain_http_likely {
        anyhow::anyhow!(
            "{e} (cordon reaches registries over HTTPS; for a registry that serves plain HTTP on a network you trust, add --insecure-registry {})",
            reference.registry
        )
    } else {
        e.into()
    }
}
