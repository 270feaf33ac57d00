//! The fixture itself: a real server that authenticates, keeps committed data across a stop and
//! a restart, and leaves nothing behind.

use cordon_test_postgres::TestPostgres;
use postgres::{Client, NoTls};

#[test]
fn a_real_server_starts_authenticates_survives_a_restart_and_is_removed() {
    let pg = TestPostgres::start().expect("start PostgreSQL");
    let mut c = Client::connect(&pg.url("postgres"), NoTls).expect("connect");
    let version: String = c.query_one("SELECT version()", &[]).unwrap().get(0);
    assert!(version.starts_with("PostgreSQL "), "{version}");
    c.batch_execute("CREATE TABLE t (n int); INSERT INTO t VALUES (41), (1);")
        .unwrap();
    // The password is required: another one is refused.
    let wrong = pg.url("postgres").replace("@127.0.0.1", "x@127.0.0.1");
    let refused = match Client::connect(&wrong, NoTls) {
        Ok(_) => panic!("a wrong password was accepted"),
        Err(e) => format!("{e:?}"),
    };
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    drop(c);

    pg.stop().unwrap();
    assert!(Client::connect(&pg.url("postgres"), NoTls).is_err());
    pg.restart().unwrap();
    let mut c = Client::connect(&pg.url("postgres"), NoTls).expect("reconnect");
    let sum: i64 = c.query_one("SELECT sum(n) FROM t", &[]).unwrap().get(0);
    assert_eq!(sum, 42);
    drop(c);

    let port = pg.port();
    drop(pg);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let left = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/postgres"
    ))
    .unwrap()
    .filter_map(Result::ok)
    .filter(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with(&format!("{}-", std::process::id()))
    })
    .count();
    assert_eq!(left, 0, "the cluster directory is removed");
}
