//! Errors of [`call_async`](crate::BreakerExt) with a timeout: [`TimedCallError`] and
//! [`Elapsed`].

use core::fmt;
use core::time::Duration;

use breaker_core::{CallError, CircuitOpen};

/// The per-call timeout elapsed before the call finished; the call was dropped and counted as a
/// failure (or as slow, with a slow-call policy).
///
/// # Examples
///
/// ```
/// use breaker_tokio::Elapsed;
/// use std::time::Duration;
///
/// let e = Elapsed::new("database", Duration::from_millis(1500));
/// assert_eq!((e.name(), e.timeout()), ("database", Duration::from_millis(1500)));
/// assert_eq!(e.to_string(), "call through circuit breaker 'database' timed out after 1.5s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    name: &'static str,
    timeout: Duration,
}

impl Elapsed {
    /// A timeout of `timeout` on a call through breaker `name`.
    pub const fn new(name: &'static str, timeout: Duration) -> Self {
        Elapsed { name, timeout }
    }

    /// The breaker's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The timeout that elapsed.
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call through circuit breaker '{}' timed out after {:?}", self.name, self.timeout)
    }
}

impl std::error::Error for Elapsed {}

/// A call with a timeout did not return a value: rejected while open, timed out, or failed with
/// its own error.
///
/// # Examples
///
/// ```
/// use breaker_tokio::{BreakerExt, TimedCallError};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let db = breaker_tokio::builder("database").build().unwrap();
/// db.force_open();
/// match db.call_async(async { Ok::<_, std::io::Error>(1) }).timeout(Duration::from_secs(1)).await {
///     Err(TimedCallError::Open(open)) => assert_eq!(open.name(), "database"),
///     other => panic!("{other:?}"),
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimedCallError<E> {
    /// The breaker rejected the call; the future was not polled.
    Open(CircuitOpen),
    /// The timeout elapsed; the future was dropped.
    TimedOut(Elapsed),
    /// The call finished with this error.
    Inner(E),
}

impl<E> TimedCallError<E> {
    /// `true` if the breaker rejected the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::{CircuitOpen, State};
    /// use breaker_tokio::TimedCallError;
    ///
    /// let e: TimedCallError<()> = TimedCallError::Open(CircuitOpen::new("db", State::Open, None));
    /// assert!(e.is_open());
    /// ```
    pub const fn is_open(&self) -> bool {
        matches!(self, TimedCallError::Open(_))
    }

    /// `true` if the call timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::{Elapsed, TimedCallError};
    /// use std::time::Duration;
    ///
    /// let e: TimedCallError<()> = TimedCallError::TimedOut(Elapsed::new("db", Duration::from_secs(1)));
    /// assert!(e.is_timeout());
    /// ```
    pub const fn is_timeout(&self) -> bool {
        matches!(self, TimedCallError::TimedOut(_))
    }

    /// The call's own error, if it ran to completion.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_tokio::TimedCallError;
    ///
    /// assert_eq!(TimedCallError::Inner("refused").into_inner(), Some("refused"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            TimedCallError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> From<CallError<E>> for TimedCallError<E> {
    fn from(e: CallError<E>) -> Self {
        match e {
            CallError::Open(open) => TimedCallError::Open(open),
            CallError::Inner(e) => TimedCallError::Inner(e),
        }
    }
}

impl<E> From<CircuitOpen> for TimedCallError<E> {
    fn from(open: CircuitOpen) -> Self {
        TimedCallError::Open(open)
    }
}

impl<E: fmt::Display> fmt::Display for TimedCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimedCallError::Open(open) => open.fmt(f),
            TimedCallError::TimedOut(elapsed) => elapsed.fmt(f),
            TimedCallError::Inner(e) => e.fmt(f),
        }
    }
}

/// `Display` or `source()`, never both: `Inner` is transparent (it displays as the inner error,
/// and its source is the inner error's source); `Open` and `TimedOut` display themselves and
/// have no source.
impl<E: std::error::Error + 'static> std::error::Error for TimedCallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TimedCallError::Open(_) | TimedCallError::TimedOut(_) => None,
            TimedCallError::Inner(e) => e.source(),
        }
    }
}
