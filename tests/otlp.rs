//! OpenTelemetry trace export (issue #11) against the real binary and a real OTLP/HTTP
//! receiver on 127.0.0.1:0: the exported spans continue the caller's W3C trace, nest
//! request → fragment → backend call, and reach the collector on shutdown; a collector
//! that is down or hung never holds up a page; a bad endpoint stops the portal before
//! it starts.
//!
//! The portal runs as `tessera serve` (the exporter lives in the binary, with the
//! subscriber). Ordering comes from events — the "is serving" line, exits, call
//! counters — and deadlines only turn a hang into a failure.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tessera_test_support::{PortalDir, Reply, Scripted};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds every wait below. Generous: only a broken build or a hang gets near it.
const DEADLINE: Duration = Duration::from_secs(30);

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a collector received: every span with its resource's `service.name`.
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    exports: Arc<AtomicUsize>,
}

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.spans.lock().expect("lock").clone()
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`,
/// answered with an empty `ExportTraceServiceResponse`.
async fn collector() -> (String, Received) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    async fn traces(State(received): State<Received>, body: Bytes) -> impl IntoResponse {
        let Ok(request) = ExportTraceServiceRequest::decode(body) else {
            return (StatusCode::BAD_REQUEST, Vec::new()).into_response();
        };
        let mut spans = received.spans.lock().expect("lock");
        for rs in request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| string_attr(&r.attributes, "service.name"))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        received.exports.fetch_add(1, Ordering::SeqCst);
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::new(),
        )
            .into_response()
    }

    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(traces))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            Value::DoubleValue(d) => Some(d.to_string()),
            _ => None,
        }
    })
}

/// One page with one fragment from `backend`, never cached (each page request calls it).
fn portal(backend: &Scripted, observability: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!("[portal]\nname = \"T\"\nhome = \"home\"\n[observability]\n{observability}"),
    );
    dir.service("quotes", &backend.url());
    dir.fragment_xml(
        "quote",
        r#"<fragment id="quote" service="quotes" path="/quote"><template>fragments/q.html</template></fragment>"#,
    );
    dir.template("fragments/q.html", "<b>{{ model.v }}</b>");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quote"/></region></page>"#,
    );
    dir
}

/// `tessera serve` with its state in a fresh SQLite file and no OpenTelemetry variables
/// but `env`.
struct Node {
    child: Child,
    stderr: mpsc::Receiver<String>,
    log: Vec<String>,
    addr: SocketAddr,
    _state: tempfile::TempDir,
}

impl Node {
    fn command(
        dir: &PortalDir,
        addr: SocketAddr,
        env: &[(&str, &str)],
        state: &std::path::Path,
    ) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.arg("serve")
            .arg("--config")
            .arg(dir.config_dir())
            .arg("--templates")
            .arg(dir.templates_dir())
            .arg("--listen")
            .arg(addr.to_string())
            .env(
                "TESSERA_DATABASE_URL",
                format!("sqlite://{}", state.join("s.db").display()),
            )
            .env("RUST_LOG", "warn");
        // The test's own environment must not point the node elsewhere.
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        cmd
    }

    fn start(dir: &PortalDir, env: &[(&str, &str)]) -> Node {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let state = tempfile::tempdir().expect("tempdir");
        let mut child = Self::command(dir, addr, env, state.path())
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
        let mut node = Node {
            child,
            stderr,
            log: Vec::new(),
            addr,
            _state: state,
        };
        node.wait_until_serving();
        node
    }

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

    /// `kill -TERM <pid>` and the exit status, waiting at most [`DEADLINE`].
    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            // Polling: std has no wait with a timeout.
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
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over a fresh connection with `headers`; the whole answer, within
/// [`DEADLINE`].
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let exchange = async {
        let mut conn = TcpStream::connect(addr).await?;
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        conn.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .expect("an answer within the deadline")
        .expect("the exchange")
}

fn one<'a>(spans: &'a [(String, Span)], name: &str, trace: &[u8]) -> &'a (String, Span) {
    let found: Vec<&(String, Span)> = spans
        .iter()
        .filter(|(_, s)| s.name == name && s.trace_id == trace)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} span in trace {}: {:#?}",
        hex(trace),
        spans
            .iter()
            .map(|(_, s)| (&s.name, hex(&s.trace_id)))
            .collect::<Vec<_>>()
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_in_the_callers_trace() {
    let backend = Scripted::start().await;
    backend.route("/quote", Reply::json(r#"{"v":"42"}"#));
    let (url, received) = collector().await;
    let dir = portal(
        &backend,
        &format!("otlp-endpoint = \"{url}\"\notlp-service-name = \"portal-test\"\n"),
    );
    // Nothing is exported on a schedule during the test: what arrives, arrives because
    // shutdown flushed it.
    let mut node = Node::start(&dir, &[("OTEL_BSP_SCHEDULE_DELAY", "600000")]);

    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let page = get(node.addr, "/", &[("traceparent", &caller)]).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<b>42</b>"), "{page}");
    // A request without a trace context starts a trace of its own.
    let page = get(node.addr, "/", &[]).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert_eq!(backend.calls(), 2);
    assert!(
        received.spans().is_empty(),
        "nothing exported before shutdown"
    );

    let status = node.terminate();
    assert!(status.success(), "{status}:\n{}", node.log());
    let spans = received.spans();
    assert!(!spans.is_empty(), "flushed on shutdown:\n{}", node.log());
    assert!(spans.iter().all(|(service, _)| service == "portal-test"));

    // The caller's trace: request (child of the caller's span) → fragment → backend call.
    let trace = (0..16)
        .map(|i| u8::from_str_radix(&CALLER_TRACE[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>();
    let (_, request) = one(&spans, "request", &trace);
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    assert_eq!(
        string_attr(&request.attributes, "path").as_deref(),
        Some("/")
    );
    assert_eq!(
        string_attr(&request.attributes, "trace_id").as_deref(),
        Some(CALLER_TRACE),
        "the logs' trace id is the exported one"
    );
    let (_, fragment) = one(&spans, "fragment", &trace);
    assert_eq!(fragment.parent_span_id, request.span_id);
    assert_eq!(
        string_attr(&fragment.attributes, "id").as_deref(),
        Some("quote")
    );
    assert_eq!(
        string_attr(&fragment.attributes, "origin").as_deref(),
        Some("backend")
    );
    let (_, call) = one(&spans, "backend_call", &trace);
    assert_eq!(call.parent_span_id, fragment.span_id);
    assert_eq!(
        string_attr(&call.attributes, "service").as_deref(),
        Some("quotes")
    );
    assert_eq!(
        string_attr(&call.attributes, "outcome").as_deref(),
        Some("success")
    );
    assert_eq!(
        string_attr(&call.attributes, "status").as_deref(),
        Some("200")
    );

    // The backend was told its parent is the exported call span.
    let seen = backend.requests();
    let tp = seen[0].headers["traceparent"].to_str().expect("ascii");
    assert_eq!(tp, format!("00-{CALLER_TRACE}-{}-01", hex(&call.span_id)));

    // The second request: a root request span, and the backend saw its trace.
    let tp = seen[1].headers["traceparent"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let own: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&tp[3 + 2 * i..5 + 2 * i], 16).expect("hex"))
        .collect();
    assert_ne!(hex(&own), CALLER_TRACE);
    let (_, root) = one(&spans, "request", &own);
    assert!(root.parent_span_id.is_empty(), "a trace of its own");
    let (_, call) = one(&spans, "backend_call", &own);
    assert!(tp.contains(&hex(&call.span_id)), "{tp}");
}

/// A collector that takes connections and never answers; counts them.
fn hung_collector() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(conn) = conn else { break };
            count.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_or_hung_never_holds_up_a_page() {
    const PAGES: u64 = 40;
    let (hung, accepted) = hung_collector();
    let down = format!("http://127.0.0.1:{}", free_port());
    for (collector, name) in [(&down, "down"), (&hung, "hung")] {
        let backend = Scripted::start().await;
        backend.route("/quote", Reply::json(r#"{"v":"42"}"#));
        let dir = portal(&backend, &format!("otlp-endpoint = \"{collector}\"\n"));
        // Exports all the time, from a queue far smaller than the spans made: the
        // queue is full within a few pages and spans are dropped from then on.
        let mut node = Node::start(
            &dir,
            &[
                ("OTEL_BSP_SCHEDULE_DELAY", "1"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4"),
            ],
        );
        let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
        for i in 0..PAGES {
            let page = get(node.addr, "/", &[("traceparent", &caller)]).await;
            assert!(page.starts_with("HTTP/1.1 200"), "{name} #{i}: {page}");
            assert!(page.contains("<b>42</b>"), "{name} #{i}: {page}");
        }
        assert_eq!(backend.calls(), PAGES, "{name}: every page was assembled");
        if name == "hung" {
            assert!(
                accepted.load(Ordering::SeqCst) >= 1,
                "the exporter reached the hung collector and waits on it"
            );
        }
        // Shutdown waits for the export at most telemetry::FLUSH_LIMIT (5 s), not for
        // the hung export's own timeout (10 s) and the next one.
        let started = Instant::now();
        let status = node.terminate();
        let took = started.elapsed();
        assert!(status.success(), "{name}: {status}:\n{}", node.log());
        assert!(took < Duration::from_secs(9), "{name}: exit took {took:?}");
    }
}

#[test]
fn a_bad_endpoint_stops_the_portal_before_it_starts() {
    let backend_url = "http://127.0.0.1:9";
    let dir = PortalDir::new();
    dir.service("quotes", backend_url);
    dir.fragment_xml(
        "quote",
        r#"<fragment id="quote" service="quotes" path="/quote"><template>fragments/q.html</template></fragment>"#,
    );
    dir.template("fragments/q.html", "{{ model.v }}");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="quote"/></region></page>"#,
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));

    // From the environment.
    let state = tempfile::tempdir().expect("tempdir");
    let out = Node::command(
        &dir,
        addr,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
        state.path(),
    )
    .output()
    .expect("run tessera serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "tessera: OTEL_EXPORTER_OTLP_ENDPOINT: \"collector:4318\" is not an http:// URL; expected e.g. \"http://127.0.0.1:4318\""
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("is serving"), "{stderr}");

    // From tessera.toml: `check` and `serve` both refuse it, pointing at the value.
    dir.file(
        "config/tessera.toml",
        "[portal]\nname = \"T\"\nhome = \"home\"\n[observability]\notlp-endpoint = \"https://collector:4318\"\n",
    );
    for args in [
        vec!["check".to_owned(), dir.config_dir().display().to_string()],
        vec![
            "serve".to_owned(),
            "--config".to_owned(),
            dir.config_dir().display().to_string(),
            "--listen".to_owned(),
            addr.to_string(),
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .output()
            .expect("run tessera");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("tessera.toml:5:17: \"https://collector:4318\": https is not supported (this build has no TLS)"),
            "{args:?}: {stderr}"
        );
    }
}
