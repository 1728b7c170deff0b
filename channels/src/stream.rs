//! Streamed response bodies. Compression must not hold chunks back: a streamed page is
//! gzip-compressed here with a sync flush after every chunk (each flush reaches the
//! browser), and marked `Content-Encoding: gzip` so the general compression layer leaves
//! it alone. A body may end with trailer fields (a streamed page's `Server-Timing`),
//! which hyper sends on a chunked response when the request said `TE: trailers` and the
//! response announced them in `Trailer`.

use std::io::Write;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::future::BoxFuture;
use http_body::Frame;
use http_body_util::StreamBody;
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

/// Whether the client takes trailer fields (`TE: trailers`).
pub fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("trailers")
        })
}

/// Trailer fields a body ends with, once they are known (`None`: no trailers).
pub type Trailers = BoxFuture<'static, Option<HeaderMap>>;

/// A body that forwards each chunk as it comes, compressed and flushed when `gzip`.
pub fn body(rx: mpsc::Receiver<Bytes>, gzip: bool) -> Body {
    body_with(rx, gzip, ())
}

/// [`body`], holding `guard` until the last chunk went out or the body was dropped
/// (a client that left): a streamed page's end is observed by the guard's `Drop`.
pub fn body_with<G: Send + 'static>(rx: mpsc::Receiver<Bytes>, gzip: bool, guard: G) -> Body {
    body_with_trailers(rx, gzip, guard, None)
}

/// [`body_with`], ending with `trailers` once the last chunk went out.
pub fn body_with_trailers<G: Send + 'static>(
    rx: mpsc::Receiver<Bytes>,
    gzip: bool,
    guard: G,
    trailers: Option<Trailers>,
) -> Body {
    struct State<G> {
        rx: mpsc::Receiver<Bytes>,
        gzip: Option<GzEncoder<Vec<u8>>>,
        trailers: Option<Trailers>,
        done: bool,
        _guard: G,
    }
    type Item = Result<Frame<Bytes>, std::io::Error>;
    async fn end<G>(mut s: State<G>) -> Option<(Item, State<G>)> {
        let fields = s.trailers.take()?.await?;
        Some((Ok(Frame::trailers(fields)), s))
    }
    let state = State {
        rx,
        gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        trailers,
        done: false,
        _guard: guard,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return end(s).await;
        }
        match s.rx.recv().await {
            Some(chunk) => match s.gzip.as_mut() {
                None => Some((Ok(Frame::data(chunk)), s)),
                Some(enc) => {
                    let out = enc
                        .write_all(&chunk)
                        .and_then(|()| enc.flush())
                        .map(|()| Frame::data(Bytes::from(std::mem::take(enc.get_mut()))));
                    Some((out, s))
                }
            },
            None => {
                s.done = true;
                match s.gzip.take() {
                    Some(enc) => Some((enc.finish().map(|b| Frame::data(Bytes::from(b))), s)),
                    None => end(s).await,
                }
            }
        }
    });
    Body::new(StreamBody::new(stream))
}
