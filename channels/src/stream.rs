//! Streamed response bodies. Compression must not hold chunks back: a streamed page is
//! gzip-compressed here with a sync flush after every chunk (each flush reaches the
//! browser), and marked `Content-Encoding: gzip` so the general compression layer leaves
//! it alone.

use std::io::Write;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use tokio::sync::mpsc;

/// Whether the client accepts gzip.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// A body that forwards each chunk as it comes, compressed and flushed when `gzip`.
pub fn body(rx: mpsc::Receiver<Bytes>, gzip: bool) -> Body {
    body_with(rx, gzip, ())
}

/// [`body`], holding `guard` until the last chunk went out or the body was dropped
/// (a client that left): a streamed page's end is observed by the guard's `Drop`.
pub fn body_with<G: Send + 'static>(rx: mpsc::Receiver<Bytes>, gzip: bool, guard: G) -> Body {
    struct State<G> {
        rx: mpsc::Receiver<Bytes>,
        gzip: Option<GzEncoder<Vec<u8>>>,
        done: bool,
        _guard: G,
    }
    let state = State {
        rx,
        gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        done: false,
        _guard: guard,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        match s.rx.recv().await {
            Some(chunk) => match s.gzip.as_mut() {
                None => Some((Ok::<Bytes, std::io::Error>(chunk), s)),
                Some(enc) => {
                    let out = enc
                        .write_all(&chunk)
                        .and_then(|()| enc.flush())
                        .map(|()| Bytes::from(std::mem::take(enc.get_mut())));
                    Some((out, s))
                }
            },
            None => {
                s.done = true;
                s.gzip.take().map(|enc| (enc.finish().map(Bytes::from), s))
            }
        }
    });
    Body::from_stream(stream)
}
