//! Which store a command works on: the embedded one in the data directory, or a shared
//! PostgreSQL database named by URL (`--database`, `CORDON_DATABASE`, or the config file).

use cordon_storage::{Embedded, Postgres, Storage};
use std::path::Path;
use std::sync::Arc;

/// The store named by `database` (a `postgres://` URL), else the embedded one in `data_dir`.
/// Blocking: call it off the async workers.
pub fn open(
    data_dir: &Path,
    database: Option<&str>,
    durable_log: bool,
    pool: Option<u32>,
) -> anyhow::Result<Arc<dyn Storage>> {
    match database {
        None => {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", data_dir.display()))?;
            Ok(Arc::new(Embedded::open(data_dir, durable_log)?))
        }
        Some(url) => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                // Never echo the value: it may hold a password.
                anyhow::bail!(
                    "the database must be a PostgreSQL URL (postgres://user:password@host:port/db); leave it unset for the embedded store"
                );
            }
            // PostgreSQL commits are always durable; `durable_log` is the embedded store's.
            let store = Postgres::open(url, pool.unwrap_or(cordon_storage::pg::DEFAULT_POOL_SIZE))
                .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", redacted(url)))?;
            Ok(Arc::new(store))
        }
    }
}

/// A database URL fit to print: the password replaced.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(database URL)".into();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return format!("{scheme}://{authority}{}", strip_query(tail));
    };
    let user = userinfo.split(':').next().unwrap_or("");
    format!("{scheme}://{user}:***@{host}{}", strip_query(tail))
}

/// The path of a URL without its query (which may carry `password=`).
fn strip_query(tail: &str) -> &str {
    tail.split('?').next().unwrap_or("")
}

/// Whether the URL carries a password (in userinfo or as a `password` parameter).
pub fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'));
    in_userinfo || url.contains("password=")
}

/// Warns when a password came on the command line, where every user of the machine can read
/// it in the process list.
pub fn warn_if_on_command_line(url: &str) {
    let on_argv = std::env::args().any(|a| a == "--database" || a.starts_with("--database="));
    if on_argv && has_password(url) {
        tracing::warn!(target: "cordon::security", "the database password was given on the command line, where other users of this machine can read it; set CORDON_DATABASE or `database` in the config file instead");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let cases = [
            (
                "postgres://cordon:s3cret@db.internal:5432/cordon",
                "postgres://cordon:***@db.internal:5432/cordon",
            ),
            (
                "postgresql://u:p%40ss@h/db?sslmode=disable&password=x",
                "postgresql://u:***@h/db",
            ),
            (
                "postgres://h:5432/db?password=s3cret",
                "postgres://h:5432/db",
            ),
            ("not a url s3cret", "(database URL)"),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted(url), shown);
            assert!(!redacted(url).contains("s3cret"));
        }
        assert!(has_password("postgres://u:p@h/db"));
        assert!(has_password("postgres://u@h/db?password=p"));
        assert!(!has_password("postgres://u@h/db"));
        assert!(!has_password("postgres://h/db"));
    }
}
