//! A real PostgreSQL for tests, nothing mocked: `initdb` into a fresh directory under the
//! workspace's `target/`, a server on a free loopback port with password (SCRAM) authentication,
//! stopped and its directory removed when the [`TestPostgres`] is dropped. No system service is
//! used or touched.
//!
//! The binaries are taken from `CORDON_PG_BIN` when set, else from the newest
//! `/usr/lib/postgresql/<version>/bin` (Debian's layout; `apt-get install -y postgresql`). `initdb`
//! refuses to run as root, so as root every server command runs as the `postgres` system user
//! (`runuser`), which the Debian package creates.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser the fixture creates.
pub const SUPERUSER: &str = "postgres";

/// How long the server may take to accept connections after `pg_ctl start`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL server owned by the test.
#[derive(Debug)]
pub struct TestPostgres {
    bin: PathBuf,
    /// Holds `data/` (the cluster) and `run/` (its Unix socket and log).
    root: PathBuf,
    port: u16,
    password: String,
    as_postgres: bool,
    /// Extra server settings (`name=value`), as `-c` options.
    settings: Vec<String>,
}

fn is_root() -> bool {
    // The effective uid, from the kernel's view of this process.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The directory holding `initdb`, `pg_ctl` and `pg_isready`.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CORDON_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL binaries: install them (`apt-get install -y postgresql`) or set CORDON_PG_BIN to the directory holding initdb",
    )
}

/// A loopback port nothing listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The workspace's `target/` (tests run with the crate's directory as their working directory).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

impl TestPostgres {
    /// Makes a new cluster and starts it.
    pub fn start() -> anyhow::Result<TestPostgres> {
        Self::start_with(&[])
    }

    /// The same, serving TLS with this certificate chain and key (PEM) besides plain TCP.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> anyhow::Result<TestPostgres> {
        Self::start_full(&[], Some((cert_pem, key_pem)))
    }

    /// The same, with server settings (`name=value`, e.g.
    /// `shared_preload_libraries=pg_stat_statements` for a benchmark counting statements).
    pub fn start_with(settings: &[&str]) -> anyhow::Result<TestPostgres> {
        Self::start_full(settings, None)
    }

    fn start_full(settings: &[&str], tls: Option<(&str, &str)>) -> anyhow::Result<TestPostgres> {
        let bin = bin_dir()?;
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).context("random")?;
        let root = target_dir().join("postgres").join(format!(
            "{}-{}",
            std::process::id(),
            hex::encode(suffix)
        ));
        std::fs::create_dir_all(root.join("run"))?;
        let mut password = [0u8; 16];
        getrandom::fill(&mut password).context("random")?;
        let mut pg = TestPostgres {
            bin,
            root,
            port: 0,
            password: hex::encode(password),
            as_postgres: is_root(),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
        };
        pg.init()?;
        if let Some((cert, key)) = tls {
            let dir = pg.root.join("tls");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("server.crt"), cert)?;
            std::fs::write(dir.join("server.key"), key)?;
            use std::os::unix::fs::PermissionsExt;
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )?;
            if pg.as_postgres {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&dir);
                pg.run(c, "chown")?;
            }
            pg.settings.extend([
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", dir.join("server.crt").display()),
                format!("ssl_key_file={}", dir.join("server.key").display()),
            ]);
        }
        // A port found free may be taken before the server binds it: try a few.
        let mut last = None;
        for _ in 0..5 {
            pg.port = free_port()?;
            match pg.start_server() {
                Ok(()) => return Ok(pg),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, mut c: Command, what: &str) -> anyhow::Result<()> {
        let out = c
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn init(&self) -> anyhow::Result<()> {
        let pwfile = self.root.join("run/pwfile");
        std::fs::write(&pwfile, format!("{}\n", self.password))?;
        if self.as_postgres {
            // The server runs as `postgres`: it must own its directory.
            self.run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(&self.root);
                    c
                },
                "chown",
            )?;
        }
        let mut c = self.command("initdb");
        c.arg("-D")
            .arg(self.root.join("data"))
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()));
        self.run(c, "initdb")?;
        std::fs::remove_file(&pwfile)?;
        Ok(())
    }

    fn start_server(&self) -> anyhow::Result<()> {
        let mut c = self.command("pg_ctl");
        c.arg("-D")
            .arg(self.root.join("data"))
            .arg("-l")
            .arg(self.root.join("run/server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on{}",
                self.port,
                self.root.join("run").display(),
                self.settings
                    .iter()
                    .map(|s| format!(" -c {s}"))
                    .collect::<String>()
            ))
            .args(["-w", "-t", &START_TIMEOUT.as_secs().to_string(), "start"]);
        self.run(c, "pg_ctl start")
            .with_context(|| self.log_tail())?;
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("PostgreSQL did not listen on port {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The last lines the server logged: what a failing test prints beside its error.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.root.join("run/server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// Runs `statements` in database `db` as the superuser (with `psql`, the password in its
    /// environment), for tests that change the store behind cordon's back; returns what psql
    /// printed (unaligned, tuples only).
    pub fn sql(&self, db: &str, statements: &str) -> anyhow::Result<String> {
        self.psql(SUPERUSER, &self.password, db, &["-c", statements])
    }

    /// `psql` as `user` (with `password`) on database `db`, stopping at the first error, with
    /// more arguments (`-c SQL`, `-f FILE`, `-v name=value`); what it printed.
    pub fn psql(
        &self,
        user: &str,
        password: &str,
        db: &str,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .env("PGPASSWORD", password)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user])
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("cannot run psql")?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The superuser's password (for `psql` runs as the superuser).
    pub fn superuser(&self) -> (&str, &str) {
        (SUPERUSER, &self.password)
    }

    /// Stops the server (fast shutdown: sessions are closed, committed data kept).
    pub fn stop(&self) -> anyhow::Result<()> {
        let mut c = self.command("pg_ctl");
        c.arg("-D")
            .arg(self.root.join("data"))
            .args(["-m", "fast", "-w", "stop"]);
        self.run(c, "pg_ctl stop")
    }

    /// Starts the server again on the same port, after [`TestPostgres::stop`].
    pub fn restart(&self) -> anyhow::Result<()> {
        self.start_server()
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let mut c = self.command("pg_ctl");
        c.arg("-D")
            .arg(self.root.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
