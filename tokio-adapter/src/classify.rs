//! Classifiers: which results count against the dependency.
//!
//! A [`Classify`] turns the whole result of a call (the response *or* the error) into a
//! [`Verdict`], so a successful response can still be a failure (an HTTP 503) and an error can
//! count as neither (a caller's mistake). Shipped:
//!
//! | classifier | `Err(_)` | `Ok(_)` |
//! |---|---|---|
//! | [`ErrorClassifier`] (any service) | failure | success |
//! | [`HttpClassifier`] (feature `http`, for `http::Response`) | failure (transport error, timeout) | 5xx: failure; 1xx–4xx: success (a 4xx is the client's mistake, and proves the server answers) |
//! | a closure `Fn(&Result<T, E>) -> Verdict` | yours | yours |

use breaker_core::Verdict;

/// Decides the [`Verdict`] of a finished call from its result.
///
/// Implemented for closures `Fn(&Result<T, E>) -> Verdict`.
///
/// # Examples
///
/// Timeouts and refused connections count; "not found" does not:
///
/// ```
/// use breaker_core::Verdict;
/// use breaker_tokio::Classify;
/// use std::io::ErrorKind;
///
/// let classify = |r: &Result<Vec<u8>, std::io::Error>| match r {
///     Ok(_) => Verdict::Success,
///     Err(e) if e.kind() == ErrorKind::NotFound => Verdict::Ignore,
///     Err(_) => Verdict::Failure,
/// };
/// assert_eq!(classify.classify(&Err(ErrorKind::TimedOut.into())), Verdict::Failure);
/// assert_eq!(classify.classify(&Err(ErrorKind::NotFound.into())), Verdict::Ignore);
/// ```
pub trait Classify<T, E> {
    /// The verdict for `result`.
    fn classify(&self, result: &Result<T, E>) -> Verdict;
}

impl<F, T, E> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Verdict,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        self(result)
    }
}

/// Any `Err` is a failure, any `Ok` a success: the classifier for services whose errors all
/// mean the dependency is in trouble.
///
/// # Examples
///
/// ```
/// use breaker_core::Verdict;
/// use breaker_tokio::{Classify, ErrorClassifier};
///
/// assert_eq!(ErrorClassifier.classify(&Ok::<_, ()>(1)), Verdict::Success);
/// assert_eq!(ErrorClassifier.classify(&Err::<u8, _>("refused")), Verdict::Failure);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorClassifier;

impl<T, E> Classify<T, E> for ErrorClassifier {
    #[inline(always)]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        if result.is_ok() {
            Verdict::Success
        } else {
            Verdict::Failure
        }
    }
}

/// The HTTP default: transport errors (every `Err`, timeouts included) and 5xx responses are
/// failures; every other response (4xx included) is a success. Feature `http`.
///
/// # Examples
///
/// ```
/// use breaker_core::Verdict;
/// use breaker_tokio::{Classify, HttpClassifier};
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
#[cfg(feature = "http")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpClassifier;

#[cfg(feature = "http")]
impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Verdict {
        match result {
            Ok(response) if !response.status().is_server_error() => Verdict::Success,
            _ => Verdict::Failure,
        }
    }
}
