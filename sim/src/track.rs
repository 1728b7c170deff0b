//! The middleware that feeds [`Counters`].
//!
//! It runs outermost, so a request is counted the moment it arrives, before
//! any delay, gate or fault. The in-flight guard lives in the middleware's
//! future: when hyper drops that future (the client disconnected) the guard is
//! dropped and the request stops counting as in flight.

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use crate::counters::Counters;

impl Counters {
    /// Wraps every route and the fallback of `router` with this counter.
    pub fn track<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.layer(middleware::from_fn_with_state(self.clone(), track))
    }
}

async fn track(State(counters): State<Counters>, mut req: Request, next: Next) -> Response {
    let in_flight = counters.arrive(req.method(), req.uri(), req.headers());
    req.extensions_mut().insert(in_flight.clone());
    let response = next.run(req).await;
    drop(in_flight);
    response
}
