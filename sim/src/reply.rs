//! [`Reply`]: what a [`crate::Scripted`] backend answers, and how.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::counters::InFlight;
use crate::gate::Gate;

/// A scripted answer: status, headers, body, and how it is delivered
/// (delay, gate, hang, trickle).
///
/// Built with a constructor and chained modifiers:
///
/// ```
/// use std::time::Duration;
/// use tessera_sim::Reply;
/// let reply = Reply::json(r#"{"a":1}"#)
///     .with_status(201)
///     .header("x-backend", "news")
///     .delay(Duration::from_millis(50));
/// ```
///
/// When several delivery modifiers are set, they apply in this order: wait for
/// the gate, hang, wait for the delay, then send (trickling if asked).
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    delay: Duration,
    hang: bool,
    gate: Option<Gate>,
    trickle: Option<Trickle>,
}

/// A body that keeps arriving: `chunk` every `every`, `times` times (or forever).
#[derive(Debug, Clone)]
struct Trickle {
    chunk: Bytes,
    every: Duration,
    times: Option<usize>,
}

impl Reply {
    /// `200` with `application/json`.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self::typed("application/json", body)
    }

    /// `200` with `application/xml`.
    pub fn xml(body: impl Into<Bytes>) -> Self {
        Self::typed("application/xml", body)
    }

    /// `200` with `text/html; charset=utf-8`.
    pub fn html(body: impl Into<Bytes>) -> Self {
        Self::typed("text/html; charset=utf-8", body)
    }

    /// `200` with `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Bytes>) -> Self {
        Self::typed("text/plain; charset=utf-8", body)
    }

    /// The given status with an empty body and no content type.
    ///
    /// # Panics
    /// If `code` is not a valid HTTP status (100–999).
    pub fn status(code: u16) -> Self {
        Reply {
            status: status_code(code),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            hang: false,
            gate: None,
            trickle: None,
        }
    }

    /// Never answers: the request stays in flight until the client gives up
    /// and drops the connection.
    pub fn hang() -> Self {
        Reply {
            hang: true,
            ..Self::status(200)
        }
    }

    fn typed(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let mut reply = Self::status(200);
        reply
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        reply.body = body.into();
        reply
    }

    /// Replaces the status, keeping body and headers.
    ///
    /// Named `with_status` because `Reply::status(code)` is already the
    /// constructor for an empty reply, and Rust has no overloading.
    ///
    /// # Panics
    /// If `code` is not a valid HTTP status (100–999).
    pub fn with_status(mut self, code: u16) -> Self {
        self.status = status_code(code);
        self
    }

    /// Sets a header, replacing any previous value (including the content
    /// type set by the constructor).
    ///
    /// # Panics
    /// If `name` or `value` is not a valid header name or value. These come
    /// from test code, never from a request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name)
            .unwrap_or_else(|e| panic!("Reply::header: invalid header name {name:?}: {e}"));
        let value = HeaderValue::try_from(value)
            .unwrap_or_else(|e| panic!("Reply::header: invalid header value {value:?}: {e}"));
        self.headers.insert(name, value);
        self
    }

    /// Waits this long (tokio time, so `tokio::time::pause` applies) before
    /// answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Holds the answer until `gate` is open.
    pub fn gate(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// After the head and the reply's own body, keeps sending `chunk` once
    /// every `every`, forever — a backend that trickles bytes and never
    /// finishes. Limit it with [`Reply::trickle_times`]. The request stays in
    /// flight while the body is being sent.
    pub fn trickle(mut self, chunk: impl Into<Bytes>, every: Duration) -> Self {
        self.trickle = Some(Trickle {
            chunk: chunk.into(),
            every,
            times: None,
        });
        self
    }

    /// Ends a trickling body after `times` chunks. No effect without
    /// [`Reply::trickle`].
    pub fn trickle_times(mut self, times: usize) -> Self {
        if let Some(trickle) = &mut self.trickle {
            trickle.times = Some(times);
        }
        self
    }

    /// Delivers the reply. `in_flight` is moved into a trickling body so the
    /// request stays counted until the body ends or the client disconnects.
    pub(crate) async fn answer(self, in_flight: Option<InFlight>) -> Response {
        if let Some(gate) = &self.gate {
            gate.wait().await;
        }
        if self.hang {
            std::future::pending::<()>().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let body = match self.trickle {
            None => Body::from(self.body),
            Some(trickle) => trickle_body(self.body, trickle, in_flight),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or_else(|e| panic!("Reply: invalid status {code}: {e}"))
}

fn trickle_body(first: Bytes, trickle: Trickle, in_flight: Option<InFlight>) -> Body {
    let head = futures::stream::iter((!first.is_empty()).then_some(Ok::<_, Infallible>(first)));
    let rest = futures::stream::unfold(
        (trickle, 0usize, in_flight),
        |(trickle, sent, in_flight)| async move {
            if trickle.times.is_some_and(|times| sent >= times) {
                return None;
            }
            tokio::time::sleep(trickle.every).await;
            let chunk = trickle.chunk.clone();
            Some((Ok(chunk), (trickle, sent + 1, in_flight)))
        },
    );
    Body::from_stream(futures::StreamExt::chain(head, rest))
}
