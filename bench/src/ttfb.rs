//! A small measuring client for time to first and last byte, which wrk cannot report
//! (wrk's latency is the time to the last byte of a response).
//!
//! Raw HTTP/1.1 over a tokio `TcpStream` (`TCP_NODELAY`, keep-alive), so that nothing
//! between the socket and the clock buffers a body frame: `C` connections, opened
//! together, each sending `N` requests one after the other. Per request it records,
//! from just before the request is written:
//!
//! - **headers**: the end of the response headers (`\r\n\r\n`) has arrived;
//! - **TTFB**: the first byte of the body has arrived (for a chunked body, the first
//!   byte of chunk data, not the chunk-size line);
//! - **TTLB**: the whole body has arrived (the terminating zero-size chunk, or
//!   `Content-Length` bytes).
//!
//! It also describes what the body held when its first byte arrived (everything that
//! one read returned, see [`FirstRead`]), so that a scenario can say what the first
//! flush contained. The client sends no `Accept-Encoding`: bodies arrive uncompressed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::BenchError;

/// Longest any one request may take before the run is abandoned.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One measured run: `connections` × `requests_per_connection` requests of `path`.
#[derive(Debug, Clone)]
pub struct StreamRun {
    pub addr: SocketAddr,
    /// Path and query, e.g. `/?delivery=out-of-order`.
    pub path: String,
    pub connections: usize,
    pub requests_per_connection: usize,
}

/// One request, measured.
#[derive(Debug, Clone)]
pub struct Sample {
    pub status: u16,
    pub headers: Duration,
    pub ttfb: Duration,
    pub ttlb: Duration,
    /// Body bytes in all.
    pub body_bytes: usize,
    /// What the body held when its first byte arrived (the rest of that read).
    pub first: FirstRead,
    /// The whole body (only kept when asked, see [`fetch_one`]).
    pub body: Option<Vec<u8>>,
}

/// What the body held when its first byte arrived: everything the read that brought
/// it returned, described in the benchmark page's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstRead {
    pub bytes: usize,
    /// The document head (`<head>`) was in it.
    pub head: bool,
    /// Out-of-order placeholders (`class="tessera-pending"`) in it.
    pub placeholders: usize,
    /// Fragment contents in it: each benchmark fragment renders one `<ul>`.
    pub fragments: usize,
}

impl FirstRead {
    pub fn of(data: &[u8]) -> FirstRead {
        let count = |needle: &[u8]| data.windows(needle.len()).filter(|w| *w == needle).count();
        FirstRead {
            bytes: data.len(),
            head: find(data, b"<head>").is_some(),
            placeholders: count(b"class=\"tessera-pending\""),
            fragments: count(b"<ul>"),
        }
    }
}

/// Runs `run`: every connection's requests in sequence, all connections at once.
///
/// The client runs on a runtime of its own, on a thread of its own, as wrk runs in a
/// process of its own: the node under test, its simulated backends and this harness
/// share one tokio runtime, and a client among the node's tasks would wait for the
/// node's work before reading its answer (and the node for the client's), adding to
/// every time it measures a delay no real client sees.
pub async fn measure(run: &StreamRun) -> Result<Vec<Sample>, BenchError> {
    let run = run.clone();
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::Setup(format!("the measuring client's runtime: {e}")))?
            .block_on(measure_here(&run))
    })
    .await
    .map_err(|e| BenchError::Setup(format!("the measuring client's thread: {e}")))?
}

/// [`measure`] on the current runtime.
async fn measure_here(run: &StreamRun) -> Result<Vec<Sample>, BenchError> {
    let mut tasks = Vec::with_capacity(run.connections);
    for _ in 0..run.connections {
        let (addr, path, n) = (run.addr, run.path.clone(), run.requests_per_connection);
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                samples.push(conn.get(&path, false).await?);
            }
            Ok::<_, BenchError>(samples)
        }));
    }
    let mut all = Vec::with_capacity(run.connections * run.requests_per_connection);
    for task in tasks {
        let samples = task
            .await
            .map_err(|e| BenchError::Setup(format!("measuring task: {e}")))??;
        all.extend(samples);
    }
    Ok(all)
}

/// One request on a new connection, keeping the whole body.
pub async fn fetch_one(addr: SocketAddr, path: &str) -> Result<Sample, BenchError> {
    let mut conn = Connection::open(addr).await?;
    conn.get(path, true).await
}

struct Connection {
    addr: SocketAddr,
    stream: TcpStream,
    /// Bytes read past the end of the previous response (none with a well-behaved
    /// server, which does not answer before it is asked).
    buf: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| BenchError::Http(format!("connect {addr}: {e}")))?;
        stream
            .set_nodelay(true)
            .map_err(|e| BenchError::Http(format!("TCP_NODELAY: {e}")))?;
        Ok(Connection {
            addr,
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    async fn get(&mut self, path: &str, keep_body: bool) -> Result<Sample, BenchError> {
        let addr = self.addr;
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path, keep_body))
            .await
            .map_err(|_| {
                BenchError::Http(format!(
                    "GET {path} on {addr}: no answer within {REQUEST_TIMEOUT:?}"
                ))
            })?
    }

    async fn exchange(&mut self, path: &str, keep_body: bool) -> Result<Sample, BenchError> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tessera-bench\r\nAccept: text/html\r\n\r\n",
            self.addr
        );
        let started = Instant::now();
        self.stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| BenchError::Http(format!("write: {e}")))?;

        // Headers.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.read_more().await?;
        };
        let headers_at = started.elapsed();
        let head = Head::parse(&self.buf[..head_end])?;
        self.buf.drain(..head_end);

        let mut body = Body::new(&head);
        let mut decoded: Vec<u8> = Vec::new();
        let mut first: Option<(Duration, FirstRead)> = None;
        loop {
            let before = decoded.len();
            let used = body.feed(&self.buf, &mut decoded)?;
            self.buf.drain(..used);
            if first.is_none() && decoded.len() > before {
                first = Some((started.elapsed(), FirstRead::of(&decoded[before..])));
            }
            if body.done() {
                break;
            }
            if !keep_body && first.is_some() {
                // Only the length counts from here on (`body.received`).
                decoded.clear();
            }
            self.read_more().await?;
        }
        let ttlb = started.elapsed();
        let (ttfb, first) = first.unwrap_or((ttlb, FirstRead::default()));
        Ok(Sample {
            status: head.status,
            headers: headers_at,
            ttfb,
            ttlb,
            body_bytes: body.received,
            first,
            body: keep_body.then_some(decoded),
        })
    }

    async fn read_more(&mut self) -> Result<(), BenchError> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| BenchError::Http(format!("read: {e}")))?;
        if n == 0 {
            return Err(BenchError::Http(
                "the server closed the connection mid-response".into(),
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// What the harness needs of a response head.
struct Head {
    status: u16,
    chunked: bool,
    content_length: Option<usize>,
}

impl Head {
    fn parse(raw: &[u8]) -> Result<Head, BenchError> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| BenchError::Http("response head is not UTF-8".into()))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| BenchError::Http(format!("bad status line {status_line:?}")))?;
        let mut head = Head {
            status,
            chunked: false,
            content_length: None,
        };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                head.chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                head.content_length = value.parse().ok();
            }
        }
        if !head.chunked && head.content_length.is_none() {
            return Err(BenchError::Http(
                "response without Content-Length or chunked encoding".into(),
            ));
        }
        Ok(head)
    }
}

/// Decodes a body incrementally: a `Content-Length` body or chunked framing.
struct Body {
    state: State,
    received: usize,
}

enum State {
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkDataEnd,
    Trailers,
    Done,
}

impl Body {
    fn new(head: &Head) -> Body {
        let state = if head.chunked {
            State::ChunkSize
        } else {
            match head.content_length {
                Some(0) | None => State::Done,
                Some(n) => State::Length(n),
            }
        };
        Body { state, received: 0 }
    }

    fn done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consumes what it can of `input`, appending body data to `out`; returns the
    /// number of input bytes used.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BenchError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Length(left) | State::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = left.min(rest.len());
                    out.extend_from_slice(&rest[..take]);
                    self.received += take;
                    pos += take;
                    let left = left - take;
                    self.state = match (&self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), n) => State::Length(n),
                        (_, 0) => State::ChunkDataEnd,
                        (_, n) => State::ChunkData(n),
                    };
                }
                State::ChunkSize => {
                    let Some(end) = find(rest, b"\r\n") else {
                        return Ok(pos);
                    };
                    let line = std::str::from_utf8(&rest[..end]).unwrap_or_default();
                    let hex = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| BenchError::Http(format!("bad chunk size {line:?}")))?;
                    pos += end + 2;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkDataEnd => {
                    if rest.len() < 2 {
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(BenchError::Http("chunk not followed by CRLF".into()));
                    }
                    pos += 2;
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let Some(end) = find(rest, b"\r\n") else {
                        return Ok(pos);
                    };
                    pos += end + 2;
                    if end == 0 {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Nearest-rank percentile (`q` in 0..=1) of `values`; zero when empty.
pub fn percentile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median as the mean of the two middle values for an even count.
pub fn median(values: &[Duration]) -> Duration {
    Duration::from_secs_f64(crate::context::median(
        values.iter().map(Duration::as_secs_f64).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(head: Head, wire: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut body = Body::new(&head);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            let used = body.feed(&buf, &mut out).expect("valid framing");
            buf.drain(..used);
        }
        (out, body.done())
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for step in 1..=wire.len() {
            let head = Head {
                status: 200,
                chunked: true,
                content_length: None,
            };
            let (out, done) = decode(head, wire, step);
            assert_eq!(out, b"hello, world", "step {step}");
            assert!(done, "step {step}");
        }
    }

    #[test]
    fn a_length_body_ends_at_its_length() {
        let head = Head {
            status: 200,
            chunked: false,
            content_length: Some(4),
        };
        let (out, done) = decode(head, b"abcd", 3);
        assert_eq!(out, b"abcd");
        assert!(done);
    }

    #[test]
    fn heads_are_read() {
        let head = Head::parse(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .expect("head");
        assert_eq!(head.status, 200);
        assert!(head.chunked);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(median(&v[..3]), Duration::from_millis(2));
    }
}
