//! The conformance suite on a real PostgreSQL, started for this test and stopped after it; each
//! part of the suite gets a fresh database of its own.

use super::*;
use crate::conformance;
use cordon_test_postgres::TestPostgres;
use postgres::NoTls;

fn fresh(pg: &TestPostgres, name: &str) -> Postgres {
    let mut admin = postgres::Client::connect(&pg.url("postgres"), NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    Postgres::open(&pg.url(name), 4)
        .unwrap_or_else(|e| panic!("{e}\nthe server's log ends:\n{}", pg.log_tail()))
}

#[test]
fn the_conformance_suite_passes_on_postgresql() {
    let pg = TestPostgres::start().expect("start PostgreSQL");
    conformance::changes_leave_one_event_each(&fresh(&pg, "changes"));
    conformance::keys_authenticate_until_revoked(&fresh(&pg, "keys"));
    conformance::the_log_is_one_chain_read_back_exactly(&fresh(&pg, "log"));
    conformance::retention_prunes_up_to_a_checkpoint(&fresh(&pg, "retention"));
    conformance::quotas_count_refuse_and_reset(&fresh(&pg, "quotas"));
    conformance::quotas_hold_across_handles(
        &fresh(&pg, "quotas_shared"),
        &Postgres::open(&pg.url("quotas_shared"), 4).unwrap(),
    );
    conformance::tasks_start_report_cancel_finish_and_expire(
        &fresh(&pg, "tasks"),
        &Postgres::open(&pg.url("tasks"), 2).unwrap(),
    );
    conformance::nodes_report_and_are_listed(
        &fresh(&pg, "nodes"),
        &Postgres::open(&pg.url("nodes"), 2).unwrap(),
    );
    conformance::decisions_apply_replace_and_remove(
        &fresh(&pg, "decisions"),
        &Postgres::open(&pg.url("decisions"), 2).unwrap(),
    );
    conformance::approvals_hold_decide_and_expire(
        &fresh(&pg, "approvals"),
        &Postgres::open(&pg.url("approvals"), 2).unwrap(),
    );
    crate::conformance_alerts::alerts_raise_claim_and_deliver(
        &fresh(&pg, "alerts"),
        &Postgres::open(&pg.url("alerts"), 2).unwrap(),
    );
    crate::conformance_detect::detection_counts_across_nodes_and_suspensions(
        &fresh(&pg, "detection"),
        &Postgres::open(&pg.url("detection"), 2).unwrap(),
    );
    crate::conformance_batches::tasks_start_and_end_in_batches(&fresh(&pg, "task_batches"));
    crate::conformance_batches::tasks_wait_for_input(
        &fresh(&pg, "task_input"),
        &Postgres::open(&pg.url("task_input"), 2).unwrap(),
    );
    crate::conformance_seals::seals_are_kept_with_their_groups_and_one_key_claims_the_log(
        &fresh(&pg, "seals"),
        &Postgres::open(&pg.url("seals"), 2).unwrap(),
    );
    // A second node opening the same database finds the schema in place and the same log.
    let a = fresh(&pg, "shared");
    let b = Postgres::open(&pg.url("shared"), 2).unwrap();
    assert_eq!(a.log_id().unwrap(), b.log_id().unwrap());
    // A version 1 database (no key description or expiry) is brought to this version, its
    // keys still valid.
    let old = a
        .create_key(&KeySpec::new("ci", Role::Invoker), 1, &Actor::local())
        .unwrap();
    let mut admin = postgres::Client::connect(&pg.url("shared"), NoTls).unwrap();
    admin
        .batch_execute(
            "ALTER TABLE api_keys DROP COLUMN description;
             ALTER TABLE api_keys DROP COLUMN expires_at;
             UPDATE cordon_meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    let c = Postgres::open(&pg.url("shared"), 2).unwrap();
    let key = c.authenticate(&old.secret).unwrap().expect("still valid");
    assert_eq!((key.description.as_str(), key.expires_at_ms), ("", None));
    let version: String = admin
        .query_one(
            "SELECT value FROM cordon_meta WHERE key = 'schema_version'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, PG_SCHEMA_VERSION.to_string());

    // What the server refused is said with its code and message, not only "db error".
    let refused = c
        .conn()
        .unwrap()
        .execute("SELECT no_such_column FROM cordon_meta", &[])
        .map_err(StorageError::from)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("42703") && refused.contains("no_such_column"),
        "{refused}"
    );
}

#[test]
fn nodes_appending_at_once_make_one_chain_and_a_newer_schema_is_refused() {
    let pg = TestPostgres::start().expect("start PostgreSQL");
    let nodes = [
        fresh(&pg, "fleet"),
        Postgres::open(&pg.url("fleet"), 4).unwrap(),
    ];
    std::thread::scope(|scope| {
        for (n, node) in nodes.iter().enumerate() {
            for t in 0..3 {
                scope.spawn(move || {
                    for i in 0..20 {
                        let base = ((n * 3 + t) * 100 + i) as i64 * 2;
                        let batch = [
                            conformance::execution(base, "echo", "key-a", cordon_core::Outcome::Ok),
                            conformance::execution(
                                base + 1,
                                "echo",
                                "key-b",
                                cordon_core::Outcome::Ok,
                            ),
                        ];
                        let stored = node.append(&batch).unwrap();
                        // A group's records are consecutive and linked, whoever else appends.
                        assert_eq!(stored[1].seq, stored[0].seq + 1);
                        assert_eq!(stored[1].prev_hash, stored[0].hash);
                    }
                });
            }
            scope.spawn(move || {
                for i in 0..5 {
                    node.create_key(
                        &KeySpec::new(&format!("node{n}-key{i}"), Role::Invoker),
                        1,
                        &Actor::local(),
                    )
                    .unwrap();
                }
            });
        }
    });
    let report = nodes[1].verify_log(&[]).unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!((report.records, report.size), (250, 250));
    assert_eq!(nodes[0].head().unwrap(), nodes[1].head().unwrap());
    assert_eq!(nodes[0].keys().unwrap().len(), 10);

    // Tampering in the shared database is named like in the embedded one.
    let mut admin = postgres::Client::connect(&pg.url("fleet"), NoTls).unwrap();
    let first_exec: i64 = admin
        .query_one("SELECT min(seq) FROM links WHERE kind = 'execution'", &[])
        .unwrap()
        .get(0);
    admin
        .batch_execute(&format!(
            "UPDATE links SET body = replace(body, '\"outcome\":\"ok\"', '\"outcome\":\"crash\"') WHERE seq = {first_exec};
             UPDATE links SET tool = 'other' WHERE seq = {};
             DELETE FROM links WHERE seq = 100;",
            first_exec + 1
        ))
        .unwrap();
    let report = nodes[0].verify_log(&[]).unwrap();
    assert!(!report.intact);
    let all = report.problems.join("\n");
    assert!(
        all.contains(&format!("record {first_exec} ")) && all.contains("field outcome was edited"),
        "{all}"
    );
    assert!(all.contains("column tool differs from the record"), "{all}");
    assert!(all.contains("records 100..100 are missing"), "{all}");

    // A database written by a newer cordon is refused, with what to do.
    admin
        .execute(
            "UPDATE cordon_meta SET value = '99' WHERE key = 'schema_version'",
            &[],
        )
        .unwrap();
    let refused = Postgres::open(&pg.url("fleet"), 2).unwrap_err();
    assert!(
        matches!(refused, StorageError::SchemaTooNew { found: 99, .. }),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("run the cordon release that wrote it")
    );
}

#[test]
fn every_change_is_announced_to_the_other_nodes_and_a_lost_connection_reads_as_everything() {
    use std::time::Duration;
    let pg = TestPostgres::start().expect("start PostgreSQL");
    let a = fresh(&pg, "announce");
    let b = Postgres::open(&pg.url("announce"), 2).unwrap();
    let heard = b.changes().unwrap().expect("PostgreSQL announces changes");
    let next = || heard.recv_timeout(Duration::from_secs(2));
    // Connected, it says to read everything (what changed before it listened is not told).
    assert_eq!(next(), Ok(Change::Everything));

    let by = Actor::local();
    let blob = a.put_blob(b"\0asm component").unwrap();
    a.insert_tool(&conformance::record("echo", "1.0.0", &blob), &by)
        .unwrap();
    assert_eq!(next(), Ok(Change::Registry));
    a.set_policy("echo", "[limits]\nfuel = 1\n", "h2", "api", &by)
        .unwrap();
    assert_eq!(next(), Ok(Change::Registry));
    a.quarantine("echo", "leaks", 5, &by).unwrap();
    assert_eq!(next(), Ok(Change::Registry));
    a.release("echo", 6, &by).unwrap();
    assert_eq!(next(), Ok(Change::Registry));
    let key = a
        .create_key(&KeySpec::new("ci", Role::Invoker), 7, &by)
        .unwrap();
    assert_eq!(next(), Ok(Change::Keys));
    a.revoke_key(&key.key.id, 8, &by).unwrap();
    assert_eq!(next(), Ok(Change::Keys));
    a.delete_tool("echo", &by).unwrap();
    assert_eq!(next(), Ok(Change::Registry));
    // A running call asked to stop is announced, so its node stops it at once; asking again,
    // or for a call that is not running, is not.
    a.task_start(&crate::tasks::NewTask {
        id: "ex_run",
        caller: "k",
        tool: "echo",
        version: "1.0.0",
        node: "a",
        now_ms: 1,
        lease_until_ms: i64::MAX,
        interrupted: "{}",
        trace: None,
    })
    .unwrap();
    a.task_cancel("ex_run", "k", 2).unwrap();
    assert_eq!(next(), Ok(Change::Tasks));
    a.task_cancel("ex_run", "admin", 3).unwrap();
    a.task_cancel("ex_none", "k", 3).unwrap();
    // What changes nothing others hold is not announced: executions, server events, last-use
    // times, a change that found nothing to change.
    a.append(&[conformance::execution(
        1,
        "echo",
        "k",
        cordon_core::Outcome::Ok,
    )])
    .unwrap();
    a.record_event(AdminEvent::new(
        9,
        &Actor::server(),
        AdminAction::ServerStop {
            reason: "test".into(),
        },
    ))
    .unwrap();
    a.touch_keys(&[(key.key.id.clone(), 10)]).unwrap();
    assert!(!a.release("echo", 11, &by).unwrap());
    assert_eq!(
        heard.recv_timeout(Duration::from_millis(500)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
    );

    // PostgreSQL restarted: once the listener is back, it says to read everything again, and
    // announcements arrive as before.
    pg.stop().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    pg.restart().unwrap();
    assert_eq!(
        heard.recv_timeout(Duration::from_secs(15)),
        Ok(Change::Everything)
    );
    let a = Postgres::open(&pg.url("announce"), 2).unwrap();
    a.create_key(&KeySpec::new("after", Role::Invoker), 12, &by)
        .unwrap();
    assert_eq!(next(), Ok(Change::Keys));
}

/// A CA and a certificate it signed for 127.0.0.1 (PEM: CA, server chain, server key).
fn test_ca(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), server.pem(), key.serialize_pem())
}

#[test]
fn tls_to_postgresql_verifies_the_server_against_the_ca_given() {
    let (ca, cert, key) = test_ca("cordon");
    let (other_ca, _, _) = test_ca("other");
    let pg = TestPostgres::start_tls(&cert, &key).expect("start PostgreSQL with TLS");
    let dir = std::env::temp_dir().join(format!("cordon-pg-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_file, other_file) = (dir.join("ca.pem"), dir.join("other.pem"));
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&other_file, other_ca).unwrap();
    let with = |params: &str| format!("{}?{params}", pg.url("postgres"));

    // Verified against the CA given: a store on TLS, its connections encrypted.
    let store = Postgres::open(
        &with(&format!(
            "sslmode=verify-full&sslrootcert={}",
            ca_file.display()
        )),
        2,
    )
    .expect("TLS with the right CA");
    store
        .create_key(&KeySpec::new("ci", Role::Invoker), 1, &Actor::local())
        .unwrap();
    let encrypted = pg
        .sql(
            "postgres",
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = '' AND backend_type = 'client backend'
             AND pid <> pg_backend_pid()",
        )
        .unwrap();
    assert_ne!(encrypted.trim(), "0", "no encrypted connection");
    // `prefer` (the default) with the CA: TLS too, since the server offers it.
    assert!(Postgres::open(&with(&format!("sslrootcert={}", ca_file.display())), 2).is_ok());

    // Not verified, not connected: no CA (the public roots do not know this one), another CA.
    for params in [
        "sslmode=require".to_owned(),
        format!("sslmode=require&sslrootcert={}", other_file.display()),
    ] {
        let refused = Postgres::open(&with(&params), 2).unwrap_err().to_string();
        assert!(
            refused.contains("certificate") || refused.contains("TLS"),
            "{params}: {refused}"
        );
        assert!(!refused.contains(&pg.url("postgres")), "{refused}");
    }
    // Plain TCP only when asked for.
    assert!(Postgres::open(&with("sslmode=disable"), 2).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}
