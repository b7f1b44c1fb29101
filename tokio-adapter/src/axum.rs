//! axum integration (feature `axum`): the open error as `503 Service Unavailable` with a
//! `Retry-After` header, and the pieces to put breakers on routes.
//!
//! - [`Rejected`] (and [`Error<E>`](crate::layer::Error) for any `E: IntoResponse`) implement
//!   [`IntoResponse`]: `503 Service Unavailable`, `Retry-After: <seconds>` (see
//!   [`Rejected::retry_after_secs`]), and the rejection's text as a `text/plain` body.
//! - [`handle_error`] is the function to give `HandleErrorLayer`, which axum needs to turn the
//!   middleware's error into a response.
//! - [`retry_after`] renders the header for handlers that answer from a fallback themselves.
//!
//! # Examples
//!
//! One breaker per route (the route template is the key), rejected requests answered with a
//! 503:
//!
//! ```
//! use axum::error_handling::HandleErrorLayer;
//! use axum::{body::Body, routing::get, Router};
//! use breaker_core::State;
//! use breaker_tokio::per_endpoint::PerEndpointLayer;
//! use http::{header::RETRY_AFTER, Request, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = breaker_tokio::registry().build().unwrap();
//! let routes = registry.keyed_default::<String>("routes").unwrap();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { StatusCode::BAD_GATEWAY }))
//!     .route_layer(
//!         ServiceBuilder::new()
//!             .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
//!             .layer(PerEndpointLayer::by_path(routes.clone())),
//!     );
//!
//! for id in 0..5 {
//!     let req = Request::get(format!("/users/{id}")).body(Body::empty()).unwrap();
//!     assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::BAD_GATEWAY);
//! }
//! assert_eq!(routes.get("/users/{id}").unwrap().state(), State::Open);
//! let req = Request::get("/users/7").body(Body::empty()).unwrap();
//! let response = app.oneshot(req).await.unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()[RETRY_AFTER], "60");
//! # }
//! ```

use axum::response::{IntoResponse, Response};
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;

use crate::layer::{Error, Rejected};

/// The `Retry-After` header value for a rejection: whole seconds, rounded up (see
/// [`Rejected::retry_after_secs`]); `None` when no time is known (forced open).
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitOpen, State};
/// use breaker_tokio::layer::Rejected;
/// use std::time::Duration;
///
/// let open = Rejected::new(CircuitOpen::new("db", State::Open, Some(Duration::from_millis(200))));
/// assert_eq!(breaker_tokio::axum::retry_after(&open).unwrap(), "1");
/// ```
pub fn retry_after(rejected: &Rejected) -> Option<HeaderValue> {
    rejected.retry_after_secs().map(HeaderValue::from)
}

impl IntoResponse for Rejected {
    /// `503 Service Unavailable` with `Retry-After` (when a time is known) and the rejection's
    /// text.
    fn into_response(self) -> Response {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            self.to_string(),
        )
            .into_response();
        if let Some(value) = retry_after(&self) {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        response
    }
}

impl<E: IntoResponse> IntoResponse for Error<E> {
    /// A rejection as [`Rejected`]'s 503; the inner error as its own response.
    fn into_response(self) -> Response {
        match self {
            Error::Rejected(rejected) => rejected.into_response(),
            Error::Inner(e) => e.into_response(),
        }
    }
}

/// For `axum::error_handling::HandleErrorLayer`: turns the middleware's error into its
/// response (503 + `Retry-After` for a rejection). See the [module docs](self).
///
/// # Examples
///
/// ```
/// use axum::error_handling::HandleErrorLayer;
/// use axum::{routing::get, Router};
/// use breaker_tokio::layer::CircuitBreakerLayer;
/// use std::sync::Arc;
/// use tower::ServiceBuilder;
///
/// let search = Arc::new(breaker_tokio::builder("search").build().unwrap());
/// let app: Router = Router::new().route("/search", get(|| async { "results" })).layer(
///     ServiceBuilder::new()
///         .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
///         .layer(CircuitBreakerLayer::http(search)),
/// );
/// # let _ = app;
/// ```
pub async fn handle_error<E: IntoResponse>(error: Error<E>) -> Response {
    error.into_response()
}
