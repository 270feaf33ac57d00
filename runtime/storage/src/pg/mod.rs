//! The PostgreSQL backend: one database shared by any number of cordon nodes. Tools and their
//! component bytes, quarantine marks, API keys, and the audit log with its checkpoints, all in
//! one schema (`SCHEMA`), so every node reads the same state and every change is one
//! transaction.
//!
//! The chain across nodes: every append takes the log's advisory lock inside its transaction,
//! reads the head there, and links to it, so appends from all nodes form one chain in commit
//! order (`log.rs`).
//!
//! Blocking: this uses the synchronous `postgres` client (whose calls block the thread on their
//! own runtime) from an `r2d2` pool. Call it from plain threads or `spawn_blocking`, never on an
//! async worker.

mod alerts;
mod approvals;
mod decisions;
mod detect;
mod listen;
mod log;
mod meta;
mod nodes;
mod quota;
mod tasks;
mod tls;
use meta::{meta, set_meta};
pub use tls::root_cert_file;

use crate::backend::Storage;
use crate::chain::{ChainReport, Claim};
use crate::changes::Change;
use crate::error::StorageError;
use crate::events::{Actor, AdminAction, AdminEvent, Event, EventFilter};
use crate::keys::{ApiKey, KeySpec, KeyTable, NewKey};
use crate::log_verify::StoredCheckpoint;
use crate::nodes::NodeRow;
use crate::quota::{QuotaDecision, QuotaRequest, QuotaUse};
use crate::record::{Appended, ExecutionRecord, Filter, Prepared};
use crate::registry::{Quarantine, ToolRecord};
use crate::seal::{Sealer, StoredSeal};
use crate::tasks::{Abandoned, NewTask, TaskRow};
use cordon_core::Role;
use postgres::Transaction;
use r2d2_postgres::PostgresConnectionManager;
use sha2::{Digest, Sha256};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema version this build reads and writes (PostgreSQL's own numbering): 1, the first;
/// 2, `api_keys.description` and `api_keys.expires_at`; 3, quota counters and running leases
/// (`quota.rs`); 4, `tools.source` (the OCI reference a version was published from); 5, running
/// and recently finished calls (`tasks`, `crate::tasks`); 6, the nodes sharing the store
/// (`nodes`, `crate::nodes`); 7, the seal of each group of links (`seals`, `crate::seal`); 8,
/// per task waiting for input its answers so far and next round (`tasks.waiting`, `tasks.next`);
/// 9, the decisions bundles applied (`decisions`, `crate::decisions`) and calls held for approval
/// (`approvals`, `crate::approvals`); 10, per tool version what the review at publish found
/// (`tools.review`), and alerts with their deliveries (`alerts`, `alert_deliveries`,
/// `crate::alerts`); 11, the detection rules' counts (`detect_signals`, `crate::detect`) and
/// callers' suspensions (`suspensions`, `crate::suspensions`); 12, per task the trace its call
/// runs in (`tasks.trace`).
pub const PG_SCHEMA_VERSION: i64 = 12;

/// Connections one node keeps to PostgreSQL unless told otherwise. The journal's writer holds
/// one while it commits, the key reload one a second, and handlers' reads and changes (short
/// transactions) the rest; the change listener has a connection of its own. 8 keeps both cores
/// busy with room for a burst, and 10 nodes (90 connections with their listeners) fit within
/// PostgreSQL's default `max_connections` of 100 (docs/deploy.md: sizing).
pub const DEFAULT_POOL_SIZE: u32 = 8;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS cordon_meta (
        key   text PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE IF NOT EXISTS blobs (
        name  text PRIMARY KEY,
        bytes bytea NOT NULL
    );
    CREATE TABLE IF NOT EXISTS tools (
        seq           bigserial PRIMARY KEY,
        name          text NOT NULL,
        version       text NOT NULL,
        digest        text NOT NULL,
        blob          text NOT NULL,
        publisher     text NOT NULL,
        signer        text NOT NULL,
        description   text NOT NULL,
        input_schema  text NOT NULL,
        output_schema text,
        policy        text NOT NULL,
        policy_hash   text NOT NULL,
        published_at  bigint NOT NULL,
        source        text,
        review        text,
        UNIQUE (name, version)
    );
    CREATE TABLE IF NOT EXISTS quarantine (
        name   text PRIMARY KEY,
        reason text NOT NULL,
        at     bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS api_keys (
        id           text PRIMARY KEY,
        name         text NOT NULL UNIQUE,
        role         text NOT NULL,
        hash         text NOT NULL,
        created_at   bigint NOT NULL,
        revoked_at   bigint,
        last_used_at bigint,
        description  text NOT NULL DEFAULT '',
        expires_at   bigint
    );
    -- Every link of the audit log, executions and administrative events alike: the canonical
    -- body the chain hashes, and copies of its fields for the filters (checked against the
    -- body by verify).
    CREATE TABLE IF NOT EXISTS links (
        seq       bigint PRIMARY KEY,
        kind      text NOT NULL,
        at        bigint NOT NULL,
        actor     text NOT NULL,
        tool      text,
        outcome   text,
        exec_id   text UNIQUE,
        body      text NOT NULL,
        checks    bytea NOT NULL,
        prev_hash text NOT NULL,
        hash      text NOT NULL
    );
    CREATE INDEX IF NOT EXISTS links_kind ON links (kind, seq);
    CREATE INDEX IF NOT EXISTS links_actor ON links (actor, seq);
    CREATE INDEX IF NOT EXISTS links_tool ON links (tool, seq);
    CREATE INDEX IF NOT EXISTS links_outcome ON links (outcome, seq);
    CREATE INDEX IF NOT EXISTS links_at ON links (at);
    CREATE TABLE IF NOT EXISTS checkpoints (
        size   bigint PRIMARY KEY,
        head   text NOT NULL,
        at     bigint NOT NULL,
        signed text NOT NULL
    );
    CREATE TABLE IF NOT EXISTS quota_use (
        caller     text NOT NULL,
        scope      text NOT NULL,
        day        bigint NOT NULL,
        executions bigint NOT NULL,
        fuel       bigint NOT NULL,
        PRIMARY KEY (caller, scope, day)
    );
    CREATE TABLE IF NOT EXISTS quota_leases (
        id         text NOT NULL,
        caller     text NOT NULL,
        scope      text NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (id, scope)
    );
    CREATE INDEX IF NOT EXISTS quota_leases_caller ON quota_leases (caller, scope);
    CREATE TABLE IF NOT EXISTS tasks (
        id          text PRIMARY KEY,
        caller      text NOT NULL,
        tool        text NOT NULL,
        version     text NOT NULL,
        node        text NOT NULL,
        started_at  bigint NOT NULL,
        updated_at  bigint NOT NULL,
        lease_until bigint NOT NULL,
        progress    text,
        cancel_by   text,
        outcome     text,
        result      text,
        expires_at  bigint,
        interrupted text,
        waiting     text,
        next        text,
        trace       text
    );
    CREATE INDEX IF NOT EXISTS tasks_running ON tasks (lease_until) WHERE outcome IS NULL;
    CREATE INDEX IF NOT EXISTS tasks_expiring ON tasks (expires_at) WHERE outcome IS NOT NULL;
    CREATE TABLE IF NOT EXISTS nodes (
        name    text PRIMARY KEY,
        beat    text NOT NULL,
        seen_at bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS alerts (
        id       text PRIMARY KEY,
        at       bigint NOT NULL,
        rule     text NOT NULL,
        severity text NOT NULL,
        summary  text NOT NULL,
        details  text NOT NULL,
        key      text
    );
    CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);
    CREATE INDEX IF NOT EXISTS alerts_rule_key ON alerts (rule, key, at);
    CREATE TABLE IF NOT EXISTS alert_deliveries (
        alert        text NOT NULL,
        webhook      text NOT NULL,
        state        text NOT NULL,
        attempts     integer NOT NULL,
        next_at      bigint NOT NULL,
        lease_until  bigint,
        node         text,
        last_error   text,
        delivered_at bigint,
        PRIMARY KEY (alert, webhook)
    );
    CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (next_at) WHERE state = 'pending';
    CREATE TABLE IF NOT EXISTS detect_signals (
        rule       text NOT NULL,
        key        text NOT NULL,
        at         bigint NOT NULL,
        n          bigint NOT NULL,
        executions text NOT NULL
    );
    CREATE INDEX IF NOT EXISTS detect_signals_key ON detect_signals (rule, key, at);
    CREATE INDEX IF NOT EXISTS detect_signals_at ON detect_signals (at);
    CREATE TABLE IF NOT EXISTS suspensions (
        caller   text PRIMARY KEY,
        at       bigint NOT NULL,
        until_at bigint NOT NULL,
        reason   text NOT NULL,
        by_actor text NOT NULL
    );
    CREATE TABLE IF NOT EXISTS decisions (
        seq    bigserial PRIMARY KEY,
        hash   text NOT NULL,
        bundle text NOT NULL,
        at     bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS approvals (
        id           text PRIMARY KEY,
        caller       text NOT NULL,
        caller_name  text NOT NULL,
        held_caller  text NOT NULL,
        tool         text NOT NULL,
        version      text NOT NULL,
        digest       text NOT NULL,
        policy_hash  text NOT NULL,
        transport    text NOT NULL,
        input        text NOT NULL,
        input_sha256 text NOT NULL,
        decision     text NOT NULL,
        approvers    text NOT NULL,
        reasons      text NOT NULL,
        created_at   bigint NOT NULL,
        expires_at   bigint NOT NULL,
        state        text NOT NULL,
        decided_by   text,
        decided_name text,
        reason       text,
        decided_at   bigint
    );
    CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (expires_at) WHERE state = 'pending';
    CREATE TABLE IF NOT EXISTS seals (
        last_seq  bigint PRIMARY KEY,
        first_seq bigint NOT NULL,
        signed    text NOT NULL
    );";

/// The advisory lock that serializes schema changes across nodes.
const SCHEMA_LOCK: i64 = 0x636f_7264_6f6e_0001;

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        // No server error (a broken or closed connection, a timeout), or one that says the
        // server is going away or not there yet: worth a retry.
        let transient = match e.code() {
            None => e.as_db_error().is_none(),
            Some(code) => {
                let c = code.code();
                c.starts_with("08") || c.starts_with("57P") || c == "53300"
            }
        };
        let said = described(&e);
        if transient {
            StorageError::Unavailable(said)
        } else {
            StorageError::Postgres(said)
        }
    }
}

/// What went wrong, said in full: the driver's own text is only "db error" for anything the
/// server refused, so the server's code and message are added. Its detail is not: it can
/// quote stored values (a duplicate key's), which have no place in an error or a log.
fn described(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut said = format!("{e}: {} {}", db.code().code(), db.message());
            if let Some(hint) = db.hint() {
                said.push_str(" (");
                said.push_str(hint);
                said.push(')');
            }
            said
        }
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
        StorageError::Unavailable(format!("no database connection: {e}"))
    }
}

/// How long a request waits for a connection when none is free or the database is down, before
/// it is refused as unavailable (503): long enough for a burst to find a free connection,
/// short enough that callers of a node whose database is gone learn it quickly.
const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

/// The shared store on PostgreSQL.
pub struct Postgres {
    pool: Pool,
    /// For the change listener's own connection.
    config: postgres::Config,
    tls: MakeRustlsConnect,
    /// Signs each appended group before it commits (`crate::seal`).
    sealer: crate::seal::SealerSlot,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds a password: never printed.
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn tool_from(r: &postgres::Row) -> Result<ToolRecord, StorageError> {
    let schema =
        |s: &str| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string()));
    let output: Option<String> = r.try_get("output_schema")?;
    Ok(ToolRecord {
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        digest: r.try_get("digest")?,
        blob: r.try_get("blob")?,
        publisher: r.try_get("publisher")?,
        signer: r.try_get("signer")?,
        description: r.try_get("description")?,
        input_schema: schema(&r.try_get::<_, String>("input_schema")?)?,
        output_schema: output.as_deref().map(schema).transpose()?,
        policy: r.try_get("policy")?,
        policy_hash: r.try_get("policy_hash")?,
        published_at_ms: r.try_get("published_at")?,
        source: r.try_get("source")?,
        review: r
            .try_get::<_, Option<String>>("review")?
            .map(|t| serde_json::from_str(&t).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()?
            .unwrap_or_default(),
    })
}

fn key_from(r: &postgres::Row) -> Result<(ApiKey, String), StorageError> {
    let role: String = r.try_get("role")?;
    Ok((
        ApiKey {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            role: Role::parse(&role).unwrap_or(Role::Auditor),
            description: r.try_get("description")?,
            created_at_ms: r.try_get("created_at")?,
            expires_at_ms: r.try_get("expires_at")?,
            revoked_at_ms: r.try_get("revoked_at")?,
            last_used_at_ms: r.try_get("last_used_at")?,
        },
        r.try_get("hash")?,
    ))
}

const KEY_COLUMNS: &str =
    "id, name, role, hash, created_at, revoked_at, last_used_at, description, expires_at";

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/db`), with at most `pool_size`
    /// connections, and brings the schema to this build's version (refusing a newer one).
    pub fn open(url: &str, pool_size: u32) -> Result<Self, StorageError> {
        let tls::DbUrl { config, tls } = tls::parse(url)?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(2))
            .connection_timeout(CONNECT_WAIT)
            .build(PostgresConnectionManager::new(config.clone(), tls.clone()))?;
        let pg = Postgres {
            pool,
            config,
            tls,
            sealer: crate::seal::SealerSlot::default(),
        };
        pg.migrate()?;
        Ok(pg)
    }

    /// The policy texts of every stored tool version, read over one connection of its own
    /// (no pool, no thread): what a node must know before it confines itself. Empty for a
    /// database cordon has not set up yet.
    pub fn stored_policies(url: &str) -> Result<Vec<String>, StorageError> {
        let tls::DbUrl { config, tls } = tls::parse(url)?;
        let mut client = config.connect(tls)?;
        let exists: bool = client
            .query_one("SELECT to_regclass('tools') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        Ok(client
            .query("SELECT DISTINCT policy FROM tools", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn conn(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>, StorageError>
    {
        Ok(self.pool.get()?)
    }

    fn migrate(&self) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        // No DDL unless the schema needs it: a node may run as a role that cannot create
        // anything (docs/deploy.md: least privileges).
        let has_meta: bool = tx
            .query_one("SELECT to_regclass('cordon_meta') IS NOT NULL", &[])?
            .get(0);
        if !has_meta {
            tx.batch_execute(
                "CREATE TABLE cordon_meta (key text PRIMARY KEY, value text NOT NULL)",
            )
            .map_err(migration_refused)?;
        }
        let found: Option<i64> = meta(&mut tx, "schema_version")?
            .map(|v| {
                v.parse()
                    .map_err(|_| StorageError::Corrupt("schema_version".into()))
            })
            .transpose()?;
        if let Some(found) = found
            && found > PG_SCHEMA_VERSION
        {
            return Err(StorageError::SchemaTooNew {
                found,
                known: PG_SCHEMA_VERSION,
            });
        }
        if found != Some(PG_SCHEMA_VERSION) {
            tx.batch_execute(SCHEMA).map_err(migration_refused)?;
            // 1 -> 2 (a no-op on a new database, whose table has them already).
            tx.batch_execute(
                "ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS description text NOT NULL DEFAULT '';
                 ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at bigint;
                 ALTER TABLE tools ADD COLUMN IF NOT EXISTS source text;
                 ALTER TABLE tools ADD COLUMN IF NOT EXISTS review text;
                 ALTER TABLE tasks ADD COLUMN IF NOT EXISTS waiting text;
                 ALTER TABLE tasks ADD COLUMN IF NOT EXISTS next text;
                 ALTER TABLE tasks ADD COLUMN IF NOT EXISTS trace text;",
            )
            .map_err(migration_refused)?;
            set_meta(&mut tx, "schema_version", &PG_SCHEMA_VERSION.to_string())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a change and appends the events it returns, in one transaction under the log's
    /// lock.
    fn change<T>(
        &self,
        apply: impl FnOnce(&mut Transaction<'_>) -> Result<(T, Vec<AdminEvent>), StorageError>,
    ) -> Result<(T, Vec<Event>), StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        log::lock(&mut tx)?;
        let (value, events) = apply(&mut tx)?;
        let stored = log::append_events(&mut tx, events, &self.sealer)?;
        let mut changes: Vec<Change> = stored
            .iter()
            .filter_map(|e| Change::of_event(&e.kind))
            .collect();
        changes.sort();
        changes.dedup();
        for change in changes {
            listen::announce(&mut tx, change)?;
        }
        tx.commit()?;
        Ok((value, stored))
    }

    /// A change whose event (if any) is known once it is applied.
    fn change_with<T>(
        &self,
        at_ms: i64,
        by: &Actor,
        apply: impl FnOnce(&mut Transaction<'_>) -> Result<(T, Option<AdminAction>), StorageError>,
    ) -> Result<T, StorageError> {
        let (value, _) = self.change(|tx| {
            let (value, action) = apply(tx)?;
            Ok((
                value,
                action
                    .map(|a| AdminEvent::new(at_ms, by, a))
                    .into_iter()
                    .collect(),
            ))
        })?;
        Ok(value)
    }
}

fn seal_of(r: &postgres::Row) -> StoredSeal {
    StoredSeal {
        first_seq: r.get(0),
        last_seq: r.get(1),
        signed: r.get(2),
    }
}

/// A schema change the connecting role may not make, said with what to do.
fn migration_refused(e: postgres::Error) -> StorageError {
    match StorageError::from(e) {
        StorageError::Postgres(cause) => StorageError::Postgres(format!(
            "cannot bring the database's schema to version {PG_SCHEMA_VERSION} ({cause}): run cordon once as the role that owns the database (`cordon keys list --database` with its URL does it), then start the nodes with their own role (docs/deploy.md)"
        )),
        other => other,
    }
}

impl Storage for Postgres {
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StorageError> {
        let name = hex::encode(Sha256::digest(bytes));
        self.conn()?.execute(
            "INSERT INTO blobs (name, bytes) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &bytes],
        )?;
        Ok(name)
    }
    fn blob(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::Corrupt(format!("bad blob name {name:?}")));
        }
        let row = self
            .conn()?
            .query_opt("SELECT bytes FROM blobs WHERE name = $1", &[&name])?
            .ok_or_else(|| StorageError::Corrupt(format!("blob {name} is missing")))?;
        let bytes: Vec<u8> = row.try_get(0)?;
        if hex::encode(Sha256::digest(&bytes)) != name {
            return Err(StorageError::Corrupt(format!(
                "blob {name} does not match its hash"
            )));
        }
        Ok(bytes)
    }
    fn tools(&self) -> Result<Vec<ToolRecord>, StorageError> {
        self.conn()?
            .query("SELECT * FROM tools ORDER BY seq", &[])?
            .iter()
            .map(tool_from)
            .collect()
    }
    fn quarantined(&self) -> Result<Vec<(String, Quarantine)>, StorageError> {
        let rows = self
            .conn()?
            .query("SELECT name, reason, at FROM quarantine ORDER BY name", &[])?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    Quarantine {
                        reason: r.try_get(1)?,
                        at_ms: r.try_get(2)?,
                    },
                ))
            })
            .collect()
    }

    fn insert_tool(&self, t: &ToolRecord, by: &Actor) -> Result<Event, StorageError> {
        let ((), mut events) = self.change(|tx| {
            tx.execute(
                "INSERT INTO tools (name, version, digest, blob, publisher, signer, description,
                                    input_schema, output_schema, policy, policy_hash, published_at,
                                    source, review)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &t.name,
                    &t.version,
                    &t.digest,
                    &t.blob,
                    &t.publisher,
                    &t.signer,
                    &t.description,
                    &t.input_schema.to_string(),
                    &t.output_schema.as_ref().map(|s| s.to_string()),
                    &t.policy,
                    &t.policy_hash,
                    &t.published_at_ms,
                    &t.source,
                    &crate::registry::review_text(&t.review),
                ],
            )
            .map_err(|e| {
                if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
                    StorageError::AlreadyPublished {
                        name: t.name.clone(),
                        version: t.version.clone(),
                    }
                } else {
                    e.into()
                }
            })?;
            let action = AdminAction::published(t);
            Ok(((), vec![AdminEvent::new(t.published_at_ms, by, action)]))
        })?;
        events
            .pop()
            .ok_or_else(|| StorageError::Corrupt("event not stored".into()))
    }
    fn approval_hold(&self, row: &crate::approvals::ApprovalRow) -> Result<(), StorageError> {
        self.approval_hold_pg(row)
    }
    fn approval(&self, id: &str) -> Result<Option<crate::approvals::ApprovalRow>, StorageError> {
        self.approval_pg(id)
    }
    fn alert_raise(
        &self,
        alert: &crate::alerts::Alert,
        webhooks: &[String],
    ) -> Result<(), StorageError> {
        self.alert_raise_pg(alert, webhooks)
    }
    fn alert_raise_once(
        &self,
        alert: &crate::alerts::Alert,
        webhooks: &[String],
        key: &str,
        since_ms: i64,
    ) -> Result<bool, StorageError> {
        self.alert_raise_once_pg(alert, webhooks, key, since_ms)
    }
    fn alerts(&self, limit: u32) -> Result<Vec<crate::alerts::AlertView>, StorageError> {
        self.alerts_pg(limit)
    }
    fn detect_flush(
        &self,
        now_ms: i64,
        tallies: &[crate::detect::Tally],
    ) -> Result<Vec<crate::detect::Reached>, StorageError> {
        self.detect_flush_pg(now_ms, tallies)
    }
    fn detect_prune(&self, before_ms: i64) -> Result<u64, StorageError> {
        self.detect_prune_pg(before_ms)
    }
    fn suspend_caller(
        &self,
        suspension: &crate::suspensions::Suspension,
        by: &Actor,
    ) -> Result<(), StorageError> {
        self.suspend_caller_pg(suspension, by)
    }
    fn resume_caller(&self, caller: &str, at_ms: i64, by: &Actor) -> Result<bool, StorageError> {
        self.resume_caller_pg(caller, at_ms, by)
    }
    fn suspensions(
        &self,
        now_ms: i64,
    ) -> Result<Vec<crate::suspensions::Suspension>, StorageError> {
        self.suspensions_pg(now_ms)
    }
    fn alert_claim(
        &self,
        node: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::alerts::Due>, StorageError> {
        self.alert_claim_pg(node, now_ms, limit)
    }
    fn alert_attempted(
        &self,
        due: &crate::alerts::Due,
        now_ms: i64,
        attempt: &crate::alerts::Attempt,
    ) -> Result<(), StorageError> {
        self.alert_attempted_pg(due, now_ms, attempt)
    }
    fn approvals_pending(
        &self,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<crate::approvals::ApprovalRow>, StorageError> {
        self.approvals_pending_pg(after, limit)
    }
    fn approval_decide(
        &self,
        id: &str,
        approve: bool,
        reason: &str,
        by: &Actor,
        now_ms: i64,
    ) -> Result<crate::approvals::Decided, StorageError> {
        self.approval_decide_pg(id, approve, reason, by, now_ms)
    }
    fn approvals_expire(
        &self,
        now_ms: i64,
    ) -> Result<Vec<crate::approvals::ApprovalRow>, StorageError> {
        self.approvals_expire_pg(now_ms)
    }
    fn approvals_prune(&self, before_ms: i64) -> Result<u64, StorageError> {
        self.approvals_prune_pg(before_ms)
    }
    fn decisions(&self) -> Result<Option<crate::decisions::InForce>, StorageError> {
        decisions::in_force(&mut *self.conn()?)
    }
    fn decisions_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<crate::decisions::InForce>, StorageError> {
        decisions::by_hash(&mut *self.conn()?, hash)
    }
    fn set_decisions(
        &self,
        next: Option<&crate::decisions::DecisionBundle>,
        by: &Actor,
    ) -> Result<bool, StorageError> {
        let at_ms = now_ms();
        self.change_with(at_ms, by, |tx| {
            let action = decisions::set(tx, next, at_ms)?;
            Ok((action.is_some(), action))
        })
    }
    fn set_policy(
        &self,
        name: &str,
        policy: &str,
        policy_hash: &str,
        source: &str,
        by: &Actor,
    ) -> Result<usize, StorageError> {
        self.change_with(now_ms(), by, |tx| {
            let old: Vec<String> = tx
                .query(
                    "SELECT DISTINCT policy_hash FROM tools WHERE name = $1 AND policy_hash != $2
                     ORDER BY policy_hash",
                    &[&name, &policy_hash],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let changed = tx.execute(
                "UPDATE tools SET policy = $2, policy_hash = $3 WHERE name = $1 AND policy_hash != $3",
                &[&name, &policy, &policy_hash],
            )? as usize;
            let action = AdminAction::policy_set(name, changed, old, policy_hash, source);
            Ok((changed, action))
        })
    }
    fn delete_tool(&self, name: &str, by: &Actor) -> Result<usize, StorageError> {
        self.change_with(now_ms(), by, |tx| {
            let versions: Vec<String> = tx
                .query(
                    "SELECT version FROM tools WHERE name = $1 ORDER BY seq",
                    &[&name],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            tx.execute("DELETE FROM quarantine WHERE name = $1", &[&name])?;
            tx.execute("DELETE FROM tools WHERE name = $1", &[&name])?;
            Ok((versions.len(), AdminAction::deleted(name, versions)))
        })
    }
    fn quarantine(
        &self,
        name: &str,
        reason: &str,
        at_ms: i64,
        by: &Actor,
    ) -> Result<(), StorageError> {
        self.change_with(at_ms, by, |tx| {
            tx.execute(
                "INSERT INTO quarantine (name, reason, at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                &[&name, &reason, &at_ms],
            )?;
            Ok((
                (),
                Some(AdminAction::ToolQuarantine {
                    tool: name.to_owned(),
                    reason: reason.to_owned(),
                }),
            ))
        })
    }
    fn release(&self, name: &str, at_ms: i64, by: &Actor) -> Result<bool, StorageError> {
        self.change_with(at_ms, by, |tx| {
            let released = tx.execute("DELETE FROM quarantine WHERE name = $1", &[&name])? > 0;
            let action = released.then(|| AdminAction::ToolRelease {
                tool: name.to_owned(),
            });
            Ok((released, action))
        })
    }
    fn create_key(&self, spec: &KeySpec, now_ms: i64, by: &Actor) -> Result<NewKey, StorageError> {
        let (new, hash) = crate::keys::generate(spec, now_ms)?;
        self.change_with(now_ms, by, |tx| {
            let taken = tx
                .query_opt("SELECT 1 FROM api_keys WHERE name = $1", &[&spec.name])?
                .is_some();
            if taken {
                return Err(StorageError::KeyNameTaken(spec.name.clone()));
            }
            tx.execute(
                "INSERT INTO api_keys (id, name, role, hash, created_at, description, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &new.key.id,
                    &spec.name,
                    &spec.role.as_str(),
                    &hash,
                    &now_ms,
                    &spec.description,
                    &spec.expires_at_ms,
                ],
            )?;
            let action = AdminAction::key_created(&new.key);
            Ok((new, Some(action)))
        })
    }
    fn revoke_key(&self, id_or_name: &str, now_ms: i64, by: &Actor) -> Result<bool, StorageError> {
        self.change_with(now_ms, by, |tx| {
            let found = tx.query_opt(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys
                     WHERE (id = $1 OR name = $1) AND revoked_at IS NULL FOR UPDATE"
                ),
                &[&id_or_name],
            )?;
            let Some(row) = found else {
                return Ok((false, None));
            };
            let (key, _) = key_from(&row)?;
            tx.execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1",
                &[&key.id, &now_ms],
            )?;
            Ok((true, Some(AdminAction::key_revoked(&key))))
        })
    }
    fn record_event(&self, event: AdminEvent) -> Result<Event, StorageError> {
        let ((), mut events) = self.change(|_| Ok(((), vec![event])))?;
        events
            .pop()
            .ok_or_else(|| StorageError::Corrupt("event not stored".into()))
    }

    fn append_prepared(&self, batch: &[Prepared]) -> Result<Appended, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let out = log::append_executions(&mut tx, batch, &self.sealer)?;
        tx.commit()?;
        Ok(out)
    }
    fn set_sealer(&self, sealer: std::sync::Arc<dyn Sealer>) {
        self.sealer.set(sealer);
    }
    fn seals(&self, after_seq: i64, through_seq: i64) -> Result<Vec<StoredSeal>, StorageError> {
        let rows = self.conn()?.query(
            "SELECT first_seq, last_seq, signed FROM seals WHERE last_seq > $1 AND last_seq <= $2
             ORDER BY last_seq LIMIT $3",
            &[&after_seq, &through_seq, &crate::seal::MAX_SEALS_READ],
        )?;
        Ok(rows.iter().map(seal_of).collect())
    }
    fn seal_covering(&self, seq: i64) -> Result<Option<StoredSeal>, StorageError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT first_seq, last_seq, signed FROM seals WHERE last_seq >= $1
                 ORDER BY last_seq LIMIT 1",
                &[&seq],
            )?
            .map(|r| seal_of(&r))
            .filter(|s| s.first_seq <= seq))
    }
    fn first_sealed(&self) -> Result<Option<i64>, StorageError> {
        Ok(self
            .conn()?
            .query_one("SELECT MIN(first_seq) FROM seals", &[])?
            .get(0))
    }
    fn log_claim(&self) -> Result<Option<String>, StorageError> {
        meta(&mut *self.conn()?, "log_claim")
    }
    fn claim_log_key(
        &self,
        key_id: &str,
        sign: &crate::seal::ClaimSigner<'_>,
    ) -> Result<String, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        // Under the log's lock: of nodes claiming at the same moment exactly one finds no
        // claim, and no link is appended between the head it reads and its claim.
        log::lock(&mut tx)?;
        if let Some(holder) = meta(&mut tx, "log_key")? {
            return Ok(holder);
        }
        let (head, _) = log::head(&mut tx)?;
        let claim = sign(head).map_err(StorageError::Seal)?;
        set_meta(&mut tx, "log_key", key_id)?;
        set_meta(&mut tx, "log_claim", &claim)?;
        tx.commit()?;
        Ok(key_id.to_owned())
    }
    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError> {
        log::execution_where(&mut *self.conn()?, "exec_id = $1", &id)
    }
    fn execution_at(&self, seq: i64) -> Result<Option<ExecutionRecord>, StorageError> {
        log::execution_where(&mut *self.conn()?, "seq = $1 AND kind = 'execution'", &seq)
    }
    fn executions(
        &self,
        filter: &Filter,
    ) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
        log::executions(&mut *self.conn()?, filter)
    }
    fn events(&self, filter: &EventFilter) -> Result<(Vec<Event>, Option<i64>), StorageError> {
        log::events(&mut *self.conn()?, filter)
    }
    fn head(&self) -> Result<(i64, String), StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        log::head(&mut tx)
    }
    fn log_id(&self) -> Result<String, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        if let Some(id) = meta(&mut tx, "log_id")? {
            return Ok(id);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| StorageError::Corrupt(format!("no randomness: {e}")))?;
        // Another node may have made it first: keep whichever is stored.
        tx.execute(
            "INSERT INTO cordon_meta (key, value) VALUES ('log_id', $1) ON CONFLICT (key) DO NOTHING",
            &[&hex::encode(bytes)],
        )?;
        let id = meta(&mut tx, "log_id")?.unwrap_or_default();
        tx.commit()?;
        Ok(id)
    }
    fn verify_log(&self, claims: &[Claim]) -> Result<ChainReport, StorageError> {
        log::verify(&mut *self.conn()?, claims)
    }
    fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        log::lock(&mut tx)?;
        let deleted = log::prune_before(&mut tx, cutoff_ms)?;
        tx.commit()?;
        Ok(deleted)
    }
    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        let existing = c.query_opt("SELECT head FROM checkpoints WHERE size = $1", &[&cp.size])?;
        match existing.map(|r| r.get::<_, String>(0)) {
            Some(head) if head == cp.head => Ok(()),
            Some(_) => Err(StorageError::Corrupt(format!(
                "a different checkpoint of size {} is already kept",
                cp.size
            ))),
            None => {
                c.execute(
                    "INSERT INTO checkpoints (size, head, at, signed) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (size) DO NOTHING",
                    &[&cp.size, &cp.head, &cp.at_ms, &cp.signed],
                )?;
                Ok(())
            }
        }
    }
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT size, head, at, signed FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )?
            .map(|r| StoredCheckpoint {
                size: r.get(0),
                head: r.get(1),
                at_ms: r.get(2),
                signed: r.get(3),
            }))
    }
    fn checkpoint_covering(&self, seq: i64) -> Result<Option<StoredCheckpoint>, StorageError> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT size, head, at, signed FROM checkpoints WHERE size >= $1 ORDER BY size LIMIT 1",
                &[&seq],
            )?
            .map(|r| StoredCheckpoint {
                size: r.get(0),
                head: r.get(1),
                at_ms: r.get(2),
                signed: r.get(3),
            }))
    }
    fn anchor_checkpoint(&self) -> Result<Option<String>, StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        meta(&mut tx, "anchor_checkpoint")
    }

    fn keys(&self) -> Result<Vec<ApiKey>, StorageError> {
        self.conn()?
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"),
                &[],
            )?
            .iter()
            .map(|r| key_from(r).map(|(k, _)| k))
            .collect()
    }
    fn key_table(&self) -> Result<KeyTable, StorageError> {
        let rows = self
            .conn()?
            .query(&format!("SELECT {KEY_COLUMNS} FROM api_keys"), &[])?;
        Ok(KeyTable::new(
            rows.iter().map(key_from).collect::<Result<_, _>>()?,
        ))
    }
    fn ping(&self) -> Result<(), StorageError> {
        self.conn()?.simple_query("SELECT 1")?;
        Ok(())
    }
    fn changes(&self) -> Result<Option<std::sync::mpsc::Receiver<Change>>, StorageError> {
        listen::spawn(self.config.clone(), self.tls.clone()).map(Some)
    }
    fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let update = tx.prepare(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1
             AND (last_used_at IS NULL OR last_used_at < $2)",
        )?;
        for (id, at) in used {
            tx.execute(&update, &[id, at])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn quota_acquire(&self, request: &QuotaRequest<'_>) -> Result<QuotaDecision, StorageError> {
        self.acquire_quota(request)
    }
    fn quota_finish(
        &self,
        caller: &str,
        day: i64,
        scopes: &[String],
        fuel: u64,
        lease: Option<&str>,
    ) -> Result<(), StorageError> {
        self.finish_quota(caller, day, scopes, fuel, lease)
    }
    fn quota_use(
        &self,
        caller: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<Vec<QuotaUse>, StorageError> {
        self.quota_usage(caller, day, now_ms)
    }
    fn quota_prune(&self, before_day: i64, now_ms: i64) -> Result<u64, StorageError> {
        self.prune_quotas(before_day, now_ms)
    }
    fn shared(&self) -> bool {
        true
    }
    fn task_start(&self, task: &NewTask<'_>) -> Result<(), StorageError> {
        self.start_task(task)
    }
    fn tasks_start(&self, tasks: &[NewTask<'_>]) -> Result<(), StorageError> {
        self.start_tasks(tasks)
    }
    fn tasks_finish(&self, ends: &[crate::tasks::TaskEnd<'_>]) -> Result<Vec<bool>, StorageError> {
        self.finish_tasks(ends)
    }
    fn task_touch(
        &self,
        id: &str,
        progress: Option<&str>,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<String>, StorageError> {
        self.touch_task(id, progress, now_ms, lease_until_ms)
    }
    fn task_finish(
        &self,
        id: &str,
        outcome: &str,
        result: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StorageError> {
        self.finish_task(id, outcome, result, now_ms, expires_at_ms)
    }
    fn task(&self, id: &str) -> Result<Option<TaskRow>, StorageError> {
        self.get_task(id)
    }
    fn task_cancel(
        &self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<TaskRow>, StorageError> {
        self.cancel_task(id, by, now_ms)
    }
    fn task_answer(
        &self,
        id: &str,
        responses: &serde_json::Map<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<Option<crate::Waiting>, StorageError> {
        self.answer_task(id, responses, now_ms)
    }
    fn task_proceed(&self, id: &str, next: &str, now_ms: i64) -> Result<bool, StorageError> {
        self.proceed_task(id, next, now_ms)
    }
    fn tasks_abandoned(
        &self,
        now_ms: i64,
        node: Option<&str>,
    ) -> Result<Vec<Abandoned>, StorageError> {
        self.abandoned_tasks(now_ms, node)
    }
    fn tasks_prune(&self, now_ms: i64) -> Result<u64, StorageError> {
        self.prune_tasks(now_ms)
    }
    fn node_beat(&self, name: &str, beat: &str, now_ms: i64) -> Result<(), StorageError> {
        self.node_beat_pg(name, beat, now_ms)
    }
    fn nodes(&self) -> Result<Vec<NodeRow>, StorageError> {
        self.nodes_pg()
    }
}

#[cfg(test)]
mod tests;
