//! Faults against the real binary (issue #10): SIGTERM lets requests in flight finish.
//!
//! The portal runs as a separate `tessera serve` process so that the signal, the
//! listener and the exit status are the real ones. Ordering comes from events — the
//! "is serving" line, the backend's call counter, the listener going away, a gate
//! opened by the test — never from sleeps; deadlines only turn a hang into a failure.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tessera_test_support::{Gate, PortalDir, Reply, Scripted};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds every wait below. Generous: only a broken build or a hang gets near it.
const DEADLINE: Duration = Duration::from_secs(30);

/// A port nobody listens on right now (bind to port 0, read it, let it go).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// One page with one fragment whose backend holds its answer until `gate` opens.
/// The service timeout is far above the test's own deadlines, so that the fragment can
/// only come back as the backend's answer.
fn portal(backend: &Scripted) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/services/slow.xml",
        &format!(
            "<service id=\"slow\" base-url=\"{}\" timeout=\"60s\"/>\n",
            backend.url()
        ),
    );
    dir.fragment_xml(
        "slow",
        r#"<fragment id="slow" service="slow" path="/data"><template>fragments/slow.html</template></fragment>"#,
    );
    dir.template("fragments/slow.html", "<b>{{ model.v }}</b>");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html" timeout="60s"><region name="main"><fragment ref="slow"/></region></page>"#,
    );
    dir
}

/// `tessera serve` on `addr`, with its state in a fresh SQLite file.
struct Node {
    child: Child,
    /// Lines of the node's stderr, read by a thread so the pipe never fills up.
    stderr: mpsc::Receiver<String>,
    /// Everything read from stderr so far, for failure messages.
    log: Vec<String>,
    _state: tempfile::TempDir,
}

impl Node {
    fn start(dir: &PortalDir, addr: SocketAddr) -> Node {
        let state = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .arg("--config")
            .arg(dir.config_dir())
            .arg("--templates")
            .arg(dir.templates_dir())
            .arg("--listen")
            .arg(addr.to_string())
            .env(
                "TESSERA_DATABASE_URL",
                format!("sqlite://{}", state.path().join("s.db").display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera serve");
        let pipe = child.stderr.take().expect("stderr");
        let (tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Node {
            child,
            stderr,
            log: Vec::new(),
            _state: state,
        }
    }

    /// Waits for the line the binary prints once its listener is bound.
    fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let serving = line.contains("is serving on");
                    self.log.push(line);
                    if serving {
                        return;
                    }
                }
                Err(e) => panic!("the node did not start ({e:?}):\n{}", self.log()),
            }
        }
    }

    /// `kill -TERM <pid>` (the crate forbids `unsafe`, so no `libc::kill`).
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit, at most [`DEADLINE`].
    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            // Polling: std has no wait with a timeout. Exits are what is awaited here, not
            // an ordering the test depends on.
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the node did not exit after SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&mut self) -> String {
        self.log.extend(self.stderr.try_iter());
        self.log.join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failed assertion must not leave a server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `GET path` over a fresh connection and reads the whole answer (the request
/// asks the server to close the connection afterwards).
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Whether the node's listener is gone: a new connection is refused. Only a connect, no
/// request, so that a probe landing before the shutdown cannot become a second call to
/// the held backend.
async fn listener_gone(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

/// Whether a new request is turned away: the connection is refused, or closed without an
/// answer. The path needs no backend (the not-found page), so it cannot hang.
async fn turned_away(addr: SocketAddr) -> bool {
    match get(addr, "/no/such/page").await {
        Err(_) => true,
        Ok(answer) => answer.is_empty(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_and_serves_no_new_one() {
    let gate = Gate::new();
    let backend = Scripted::start().await;
    backend.route(
        "/data",
        Reply::json(r#"{"v":"answered after SIGTERM"}"#).gate(gate.clone()),
    );
    let dir = portal(&backend);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut node = Node::start(&dir, addr);
    node.wait_until_serving();

    // A page request that is in flight: the portal has called the backend, which holds
    // its answer.
    let in_flight = tokio::spawn(get(addr, "/"));
    tokio::time::timeout(DEADLINE, backend.wait_for_calls(1))
        .await
        .expect("the page request reached the backend");

    node.terminate();
    // Shutdown has begun once the listener is gone: a new connection is refused. Only
    // then does the backend answer, so the request surely spans the shutdown.
    let deadline = Instant::now() + DEADLINE;
    while !listener_gone(addr).await {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The request in flight is still held by the backend: nothing has answered it yet.
    assert!(
        !in_flight.is_finished(),
        "answered before the backend was released"
    );
    assert_eq!(backend.in_flight(), 1);
    gate.open();

    let answer = tokio::time::timeout(DEADLINE, in_flight)
        .await
        .expect("the request in flight finished")
        .expect("request task")
        .expect("the request in flight got an answer");
    assert!(
        answer.starts_with("HTTP/1.1 200 "),
        "{answer}\n{}",
        node.log()
    );
    assert!(answer.contains("<b>answered after SIGTERM</b>"), "{answer}");
    assert!(
        turned_away(addr).await,
        "a new request was served after SIGTERM"
    );

    let status = node.wait_for_exit();
    assert!(status.success(), "{status}\n{}", node.log());
    assert_eq!(backend.calls(), 1);
}
