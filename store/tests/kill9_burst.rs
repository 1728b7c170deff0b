//! A `kill -9` in the middle of a burst of customization writes (issue #10): the SQLite
//! file must open cleanly afterwards, pass `PRAGMA integrity_check`, and hold every write
//! the store acknowledged — exactly as written.
//!
//! The writer is this same test binary, re-run as a child process with
//! [`BURST_DB`] set; it reports each acknowledged write on stdout. The parent kills it
//! with SIGKILL once it has seen [`ACKS_BEFORE_KILL`] acknowledgements, so the kill lands
//! while writes are still going on. Everything is driven by those lines, not by clocks;
//! the only time limit is a generous deadline that turns a stuck child into a failure
//! instead of a hung test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use tessera_store::{open, CustomSlot, Customization, NewUser};

/// Environment variable that turns [`kill9_burst_child`] from a no-op into the writer.
const BURST_DB: &str = "TESSERA_STORE_KILL9_BURST_DB";

/// Acknowledgements the parent waits for before killing: enough that the kill lands
/// well inside the burst, few enough to keep the test fast.
const ACKS_BEFORE_KILL: usize = 200;

/// Upper bound on the child's writes, so that an orphaned child cannot write forever.
/// Far above what the parent waits for.
const MAX_WRITES: u64 = 1_000_000;

/// How long the parent waits for the child's acknowledgements before giving up. Only a
/// broken child gets near it; it bounds the test, it does not synchronize it.
const DEADLINE: Duration = Duration::from_secs(120);

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn page_id(n: u64) -> String {
    format!("page-{n}")
}

/// What the child writes for page `n`: different for every page, so that a write landing
/// on the wrong row or half a write would not compare equal.
fn customization(n: u64) -> Customization {
    Customization {
        slots: vec![
            CustomSlot {
                region: "main".into(),
                fragment: format!("news.{n}"),
                minimized: n % 2 == 0,
                params: BTreeMap::from([
                    ("n".to_owned(), n.to_string()),
                    ("titre".to_owned(), format!("Actualités « {n} » 😀")),
                ]),
            },
            CustomSlot {
                region: "side".into(),
                fragment: "quotes.watchlist".into(),
                minimized: false,
                params: BTreeMap::new(),
            },
        ],
        updated_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + n),
    }
}

fn new_user() -> NewUser {
    NewUser {
        login: "burst".into(),
        display_name: "Burst writer".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        roles: vec!["customer".into()],
        segment: None,
        extra_tokens: Vec::new(),
        attributes: BTreeMap::new(),
        created_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
    }
}

/// The child: creates a user, then writes customizations of `page-0`, `page-1`, … as
/// fast as the store takes them, printing `USER <id>` once and `ACK <n>` after each
/// write returned. Does nothing in a normal test run.
#[tokio::test]
async fn kill9_burst_child() {
    let Ok(path) = std::env::var(BURST_DB) else {
        return;
    };
    let store = open(&url(Path::new(&path))).await.expect("child open");
    let user = store.create_user(&new_user()).await.expect("user");
    let mut out = std::io::stdout();
    // libtest prints the test name first, on the same line: start on a fresh one.
    writeln!(out, "\nUSER {}", user.id).expect("report user");
    out.flush().expect("flush");
    for n in 0..MAX_WRITES {
        store
            .put_customization(user.id, &page_id(n), &customization(n))
            .await
            .expect("put customization");
        // Only now is the write acknowledged. A parent that went away closes the pipe,
        // and this fails, ending the child.
        writeln!(out, "ACK {n}").expect("report ack");
        out.flush().expect("flush");
    }
}

/// A line from the child, as the reader thread parsed it.
enum Report {
    User(i64),
    Ack(u64),
}

#[tokio::test]
async fn a_kill_9_during_a_burst_of_customizations_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tessera.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "kill9_burst_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BURST_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");

    // A thread reads the pipe so that the parent can wait with a deadline; it ends at
    // end of file, i.e. once the child is dead.
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let report = if let Some(id) = line.strip_prefix("USER ") {
                Report::User(id.trim().parse().expect("user id"))
            } else if let Some(n) = line.strip_prefix("ACK ") {
                Report::Ack(n.trim().parse().expect("ack number"))
            } else {
                continue; // libtest's own lines
            };
            if tx.send(report).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + DEADLINE;
    let mut user_id = None;
    let mut acked = Vec::new();
    while acked.len() < ACKS_BEFORE_KILL {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Report::User(id)) => user_id = Some(id),
            Ok(Report::Ack(n)) => acked.push(n),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child stopped after {} acknowledgements: {e:?}",
                    acked.len()
                );
            }
        }
    }
    // SIGKILL in the middle of the burst: no destructor, no pool close, no checkpoint.
    child.kill().expect("kill child");
    let status = child.wait().expect("reap child");
    assert!(!status.success(), "the child was killed, not finished");
    // Acknowledgements already in the pipe count too: those writes returned as well.
    reader.join().expect("reader thread");
    for report in rx.try_iter() {
        if let Report::Ack(n) = report {
            acked.push(n);
        }
    }
    let user_id = user_id.expect("the child reported its user first");
    // Writes are sequential, so acknowledgements are 0, 1, 2, … without gaps.
    let expected: Vec<u64> = (0..acked.len() as u64).collect();
    assert_eq!(acked, expected, "acknowledgements out of order");
    let last = acked.len() as u64;

    // Opens cleanly (recovering the WAL and running migrations) …
    let store = open(&url(&path)).await.expect("reopen after kill -9");
    assert!(store.user(user_id).await.expect("user").is_some());
    // … holds every acknowledged write exactly as written …
    for n in 0..last {
        assert_eq!(
            store
                .customization(user_id, &page_id(n))
                .await
                .expect("read customization"),
            Some(customization(n)),
            "acknowledged write {n} of {last}"
        );
    }
    // … and the write in progress at the kill is all there or not at all.
    let in_progress = store
        .customization(user_id, &page_id(last))
        .await
        .expect("read customization");
    assert!(
        in_progress.is_none() || in_progress == Some(customization(last)),
        "write {last}, in progress at the kill, is torn: {in_progress:?}"
    );
    store.close().await;

    // And SQLite itself finds the file sound.
    let mut conn = sqlx::SqliteConnection::connect(&url(&path))
        .await
        .expect("connect for integrity check");
    let verdict: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .expect("integrity check");
    assert_eq!(verdict, [("ok".to_owned(),)]);
    conn.close().await.expect("close");
}
