//! Which outcomes count: the [`Classify`] trait, and the classifiers every crate shares.
//!
//! A classifier turns a finished call's `Result` into a [`Verdict`]: a success, a failure (counts
//! against the dependency), or neither (a caller's mistake, a cancelled request). It is one trait,
//! implemented by every closure `Fn(&Result<T, E>) -> Verdict`, so "which errors count" (the
//! pattern's `expected_exception`), an error-type classifier and breaker-tokio's HTTP classifier
//! are all values of it, taken by `call_with` and by the tower layer alike.
//!
//! # Examples
//!
//! ```
//! use breaker_core::classify::{failures_where, Classify, Errors};
//! use breaker_core::Verdict;
//!
//! #[derive(Debug)]
//! enum DbError { ConnectionLost, UniqueViolation }
//!
//! // The default: every `Err` is a failure.
//! assert_eq!(Errors.classify(&Err::<(), _>(DbError::UniqueViolation)), Verdict::Failure);
//! // Only connection errors count; a constraint violation is the caller's mistake.
//! let only_connection = failures_where(|e: &DbError| matches!(e, DbError::ConnectionLost));
//! assert_eq!(only_connection.classify(&Err::<(), _>(DbError::UniqueViolation)), Verdict::Ignore);
//! assert_eq!(only_connection.classify(&Err::<(), _>(DbError::ConnectionLost)), Verdict::Failure);
//! // Any closure over the whole result is a classifier too.
//! let status_5xx = |r: &Result<u16, ()>| match r {
//!     Ok(s) if *s >= 500 => Verdict::Failure,
//!     Ok(_) => Verdict::Success,
//!     Err(()) => Verdict::Failure,
//! };
//! assert_eq!(status_5xx.classify(&Ok(503)), Verdict::Failure);
//! ```

use crate::Verdict;

/// Decides what a finished call's result means to the breaker.
///
/// Implemented for every `Fn(&Result<T, E>) -> Verdict`, for [`Errors`] (the default) and for
/// [`FailuresWhere`] (from [`failures_where`]). A classifier is called once per admitted call,
/// after the call returns; it must not block.
///
/// # Examples
///
/// A classifier type of your own, reusable across calls and breakers:
///
/// ```
/// use breaker_core::classify::Classify;
/// use breaker_core::{Breaker, Config, ManualClock, Verdict};
///
/// /// Timeouts and refused connections count; everything else is the caller's business.
/// struct Transient;
///
/// impl<T> Classify<T, std::io::Error> for Transient {
///     fn classify(&self, result: &Result<T, std::io::Error>) -> Verdict {
///         use std::io::ErrorKind::*;
///         match result {
///             Ok(_) => Verdict::Success,
///             Err(e) if matches!(e.kind(), TimedOut | ConnectionRefused) => Verdict::Failure,
///             Err(_) => Verdict::Ignore,
///         }
///     }
/// }
///
/// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
/// let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
/// let _ = breaker.call_with(|| Err::<(), _>(not_found), Transient);
/// assert_eq!(breaker.failure_count(), 0);
/// ```
pub trait Classify<T, E> {
    /// The verdict for `result`.
    fn classify(&self, result: &Result<T, E>) -> Verdict;
}

impl<F, T, E> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Verdict,
{
    #[inline(always)]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, every `Err` a failure.
///
/// # Examples
///
/// ```
/// use breaker_core::classify::{Classify, Errors};
/// use breaker_core::Verdict;
///
/// assert_eq!(Errors.classify(&Ok::<_, ()>(1)), Verdict::Success);
/// assert_eq!(Errors.classify(&Err::<u8, _>("refused")), Verdict::Failure);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errors;

impl<T, E> Classify<T, E> for Errors {
    #[inline(always)]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        if result.is_ok() {
            Verdict::Success
        } else {
            Verdict::Failure
        }
    }
}

/// "Which errors count": `Ok` is a success, an `Err` for which the predicate returns `true` a
/// failure, any other `Err` neither (it is returned to the caller as it is, and a half-open probe
/// slot is given back). Made by [`failures_where`].
///
/// # Examples
///
/// ```
/// use breaker_core::classify::{failures_where, Classify};
/// use breaker_core::Verdict;
///
/// let server_errors = failures_where(|status: &u16| *status >= 500);
/// assert_eq!(server_errors.classify(&Err::<(), _>(503)), Verdict::Failure);
/// assert_eq!(server_errors.classify(&Err::<(), _>(404)), Verdict::Ignore);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FailuresWhere<F>(F);

/// The classifier in which only the errors `is_failure` accepts count as failures; see
/// [`FailuresWhere`].
///
/// # Examples
///
/// ```
/// use breaker_core::classify::failures_where;
/// use breaker_core::{Breaker, CallError, Config, ManualClock};
///
/// #[derive(Debug, PartialEq)]
/// enum DbError { ConnectionLost, UniqueViolation }
///
/// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
/// let only_connection = failures_where(|e: &DbError| *e == DbError::ConnectionLost);
/// let r = breaker.call_with(|| Err::<(), _>(DbError::UniqueViolation), only_connection);
/// assert_eq!(r, Err(CallError::Inner(DbError::UniqueViolation)));
/// assert_eq!(breaker.failure_count(), 0); // a caller's mistake, not the database's
/// ```
#[inline]
pub const fn failures_where<F>(is_failure: F) -> FailuresWhere<F> {
    FailuresWhere(is_failure)
}

impl<F, T, E> Classify<T, E> for FailuresWhere<F>
where
    F: Fn(&E) -> bool,
{
    #[inline(always)]
    fn classify(&self, result: &Result<T, E>) -> Verdict {
        match result {
            Ok(_) => Verdict::Success,
            Err(e) if (self.0)(e) => Verdict::Failure,
            Err(_) => Verdict::Ignore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_counts_every_err() {
        assert_eq!(Errors.classify(&Ok::<(), ()>(())), Verdict::Success);
        assert_eq!(Errors.classify(&Err::<(), ()>(())), Verdict::Failure);
    }

    #[test]
    fn failures_where_ignores_other_errors() {
        let c = failures_where(|e: &i32| *e < 0);
        assert_eq!(c.classify(&Ok::<(), i32>(())), Verdict::Success);
        assert_eq!(c.classify(&Err::<(), i32>(-1)), Verdict::Failure);
        assert_eq!(c.classify(&Err::<(), i32>(1)), Verdict::Ignore);
    }
}
