//! axum integration (feature `axum`): breaker errors as responses.
//!
//! - Every breaker error is an [`IntoResponse`]: [`Open`] (the tower layer's rejection),
//!   [`TimedCallError`] (`call_async(..).timeout(..)`), [`Elapsed`] (its timeout), and the
//!   core's [`CircuitOpen`](crate::CircuitOpen) and [`CallError`](crate::CallError) (what
//!   `call` and `call_async` return; this feature turns on breaker-core's `axum`). A rejection
//!   is `503 Service Unavailable` with `Retry-After: <seconds>` (see
//!   [`CircuitOpen::retry_after_secs`](crate::CircuitOpen::retry_after_secs); none when forced
//!   open) and a `text/plain` body naming the breaker, and the key of a per-route breaker; a
//!   timeout is `504 Gateway Timeout`; a call's own error is its own response.
//! - [`handle_error`] is the function to give `HandleErrorLayer`, which axum needs above any
//!   fallible middleware: it turns the layer's `BoxError` into the response (503 + `Retry-After`
//!   for a rejection, 504 for a `tower::timeout` below the breaker, 500 for anything else).
//! - [`ByKey::by_route`](crate::layer::ByKey::by_route) keys per-route breakers by the route
//!   template (`/users/{id}`).
//!
//! # Examples
//!
//! One breaker per route, rejected requests answered with a 503 naming the route:
//!
//! ```
//! use axum::error_handling::HandleErrorLayer;
//! use axum::{body::Body, routing::get, Router};
//! use breaker_tokio::layer::{ByKey, CircuitBreakerLayer};
//! use breaker_tokio::State;
//! use http::{header::RETRY_AFTER, Request, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = breaker_tokio::registry().build().unwrap();
//! let routes = registry.keyed::<String>("routes").unwrap(); // 5 failures, 60 s
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { StatusCode::BAD_GATEWAY }))
//!     .route_layer(
//!         ServiceBuilder::new()
//!             .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
//!             .layer(CircuitBreakerLayer::http(ByKey::by_route(routes.clone()))),
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
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;

use crate::layer::Open;
use crate::{Elapsed, TimedCallError};

/// A `text/plain` response with `status` and `body`.
fn text(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], body).into_response()
}

impl IntoResponse for Open {
    /// The core's rejection response ([`CircuitOpen`](crate::CircuitOpen)'s: `503 Service
    /// Unavailable`, `Retry-After` when a time is known), its text naming the key too for a
    /// keyed breaker.
    fn into_response(self) -> Response {
        let mut response = self.circuit_open().into_response();
        if self.key().is_some() {
            *response.body_mut() = self.to_string().into();
        }
        response
    }
}

impl IntoResponse for Elapsed {
    /// `504 Gateway Timeout`, with the timeout's text.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use breaker_tokio::Elapsed;
    /// use http::StatusCode;
    /// use std::time::Duration;
    ///
    /// let e = Elapsed::new("database", Duration::from_secs(1));
    /// assert_eq!(e.into_response().status(), StatusCode::GATEWAY_TIMEOUT);
    /// ```
    fn into_response(self) -> Response {
        text(StatusCode::GATEWAY_TIMEOUT, self.to_string())
    }
}

impl<E: IntoResponse> IntoResponse for TimedCallError<E> {
    /// A rejection as [`Open`]'s 503; a timeout as `504 Gateway Timeout`; the call's own error
    /// as its own response.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use breaker_tokio::{BreakerExt, TimedCallError};
    /// use http::StatusCode;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let db = breaker_tokio::builder("database").build().unwrap();
    /// let hanging = async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, StatusCode>("row")
    /// };
    /// let e = db.call_async(hanging).timeout(Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(e.into_response().status(), StatusCode::GATEWAY_TIMEOUT);
    /// db.force_open();
    /// let e = db.call_async(async { Ok::<_, StatusCode>("row") }).timeout(Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(e.into_response().status(), StatusCode::SERVICE_UNAVAILABLE);
    /// # }
    /// ```
    fn into_response(self) -> Response {
        match self {
            TimedCallError::Open(open) => open.into_response(),
            TimedCallError::TimedOut(elapsed) => elapsed.into_response(),
            TimedCallError::Inner(e) => e.into_response(),
        }
    }
}

/// For `axum::error_handling::HandleErrorLayer`: the response for a middleware error.
///
/// | error | response |
/// |---|---|
/// | an [`Open`] or a [`CircuitOpen`](crate::CircuitOpen) (the breaker rejected the request) | `503 Service Unavailable`, `Retry-After`, the rejection's text |
/// | `tower::timeout::error::Elapsed` (a `tower::timeout` below the breaker), or this crate's [`Elapsed`] | `504 Gateway Timeout` |
/// | anything else | `500 Internal Server Error` (the error's text is not sent to the client) |
///
/// # Examples
///
/// ```
/// use axum::error_handling::HandleErrorLayer;
/// use axum::{routing::get, Router};
/// use breaker_tokio::layer::CircuitBreakerLayer;
/// use std::time::Duration;
/// use tower::ServiceBuilder;
///
/// let registry = breaker_tokio::registry().build().unwrap();
/// let search = registry.breaker("search").unwrap();
/// let app: Router = Router::new().route("/search", get(|| async { "results" })).layer(
///     ServiceBuilder::new()
///         .layer(HandleErrorLayer::new(breaker_tokio::axum::handle_error))
///         .layer(CircuitBreakerLayer::http(search))
///         .timeout(Duration::from_secs(2)),
/// );
/// # let _ = app;
/// ```
///
/// Called directly:
///
/// ```
/// use breaker_tokio::layer::Open;
/// use breaker_tokio::{CircuitOpen, State};
/// use http::StatusCode;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let open = Open::new(CircuitOpen::new("search", State::Open, Some(Duration::from_millis(1_200))));
/// let response = breaker_tokio::axum::handle_error(Box::new(open)).await;
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "2");
/// let response = breaker_tokio::axum::handle_error(Box::new(tower::timeout::error::Elapsed::new())).await;
/// assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
/// let response = breaker_tokio::axum::handle_error("pool closed".into()).await;
/// assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// # }
/// ```
pub async fn handle_error(error: Box<dyn std::error::Error + Send + Sync>) -> Response {
    let error = match error.downcast::<Open>() {
        Ok(open) => return open.into_response(),
        Err(error) => error,
    };
    if let Some(open) = error.downcast_ref::<crate::CircuitOpen>() {
        return open.into_response();
    }
    if let Some(elapsed) = error.downcast_ref::<Elapsed>() {
        return elapsed.into_response();
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        return text(StatusCode::GATEWAY_TIMEOUT, error.to_string());
    }
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error".to_owned())
}
