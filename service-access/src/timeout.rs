//! The timeout piece: bounds a whole call (connect, request, body) by the service's
//! `timeout`. It uses tokio's clock so tests can drive it with paused time, and dropping
//! the call on expiry cancels the backend exchange (the connection is closed), so a
//! timed-out request leaves no work behind.

use std::future::Future;
use std::time::Duration;

use crate::error::Elapsed;

pub async fn with_timeout<T>(limit: Duration, call: impl Future<Output = T>) -> Result<T, Elapsed> {
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| Elapsed(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expires_exactly_at_the_limit() {
        let limit = Duration::from_millis(300);
        let slow = tokio::time::sleep(Duration::from_millis(301));
        assert_eq!(with_timeout(limit, slow).await, Err(Elapsed(limit)));
        let fast = tokio::time::sleep(Duration::from_millis(299));
        assert_eq!(with_timeout(limit, fast).await, Ok(()));
    }
}
