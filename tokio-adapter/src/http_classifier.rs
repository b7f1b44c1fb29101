//! [`HttpClassifier`]: the HTTP value of the core's [`Classify`] trait (the trait, the default
//! [`Errors`](crate::classify::Errors) and
//! [`failures_where`](crate::classify::failures_where) live in
//! [`breaker_core::classify`], re-exported as [`crate::classify`]).

use breaker_core::{Classify, Verdict};

/// The HTTP default: transport errors (every `Err`, timeouts included) and 5xx responses are
/// failures; every other response (4xx included) is a success. Feature `http`.
///
/// # Examples
///
/// ```
/// use breaker_tokio::{Classify, HttpClassifier, Verdict};
/// use http::{Response, StatusCode};
///
/// let status = |s: u16| Ok::<_, std::io::Error>(Response::builder().status(s).body(()).unwrap());
/// assert_eq!(HttpClassifier.classify(&status(200)), Verdict::Success);
/// assert_eq!(HttpClassifier.classify(&status(404)), Verdict::Success); // the client's mistake
/// assert_eq!(HttpClassifier.classify(&status(503)), Verdict::Failure);
/// let refused: Result<Response<()>, _> = Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(HttpClassifier.classify(&refused), Verdict::Failure);
/// # let _ = StatusCode::OK;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpClassifier;

impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Verdict {
        match result {
            Ok(response) if !response.status().is_server_error() => Verdict::Success,
            _ => Verdict::Failure,
        }
    }
}
