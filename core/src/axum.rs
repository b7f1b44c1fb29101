//! axum responses for the call errors (feature `axum`, which needs `std`): a rejection is
//! `503 Service Unavailable` with `Retry-After`, whichever crate's error carries it.
//!
//! - [`CircuitOpen`]: `503`, `Retry-After: <seconds>` when a time is known (see
//!   [`CircuitOpen::retry_after_secs`]; none when forced open), and a `text/plain` body, the
//!   rejection's `Display` (it names the breaker).
//! - [`CallError<E>`](CallError) for any `E: IntoResponse`: a rejection as above, the call's own
//!   error as its own response.
//!
//! breaker-tokio's errors (`layer::Open`, which adds the key of a keyed breaker, and
//! `TimedCallError`, whose timeout is a `504`) answer the same way through this one rule.
//!
//! # Examples
//!
//! ```
//! use axum_core::response::IntoResponse;
//! use breaker_core::{Breaker, CallError, Config, ManualClock};
//! use http::{header::RETRY_AFTER, StatusCode};
//!
//! let db = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
//! let _ = db.call(|| Err::<(), _>(StatusCode::BAD_GATEWAY));
//! let response = db.call(|| Ok::<_, StatusCode>("row")).unwrap_err().into_response();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()[RETRY_AFTER], "60"); // the default recovery timeout
//!
//! let failed: CallError<StatusCode> = CallError::Inner(StatusCode::BAD_GATEWAY);
//! assert_eq!(failed.into_response().status(), StatusCode::BAD_GATEWAY);
//! ```

use alloc::string::ToString;

use axum_core::response::{IntoResponse, Response};
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;

use crate::{CallError, CircuitOpen};

impl IntoResponse for CircuitOpen {
    /// `503 Service Unavailable`, `Retry-After` when a time is known, and the rejection's text.
    fn into_response(self) -> Response {
        let text = HeaderValue::from_static("text/plain; charset=utf-8");
        let mut response =
            (StatusCode::SERVICE_UNAVAILABLE, [(CONTENT_TYPE, text)], self.to_string()).into_response();
        if let Some(secs) = self.retry_after_secs() {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl<E: IntoResponse> IntoResponse for CallError<E> {
    /// A rejection as [`CircuitOpen`]'s `503`; the call's own error as its own response.
    fn into_response(self) -> Response {
        match self {
            CallError::Open(open) => open.into_response(),
            CallError::Inner(e) => e.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;
    use core::time::Duration;

    #[test]
    fn a_rejection_is_a_503_with_retry_after_rounded_up() {
        let open = CircuitOpen::new("db", State::Open, Some(Duration::from_millis(2_500)));
        let response = open.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        assert_eq!(response.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    }

    #[test]
    fn forced_open_has_no_retry_after_and_half_open_says_one_second() {
        let forced = CircuitOpen::new("db", State::ForcedOpen, None).into_response();
        assert_eq!(forced.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(forced.headers().get(RETRY_AFTER).is_none());
        let half = CircuitOpen::new("db", State::HalfOpen, None).into_response();
        assert_eq!(half.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn an_inner_error_is_its_own_response() {
        let e: CallError<StatusCode> = CallError::Inner(StatusCode::NOT_FOUND);
        assert_eq!(e.into_response().status(), StatusCode::NOT_FOUND);
    }
}
