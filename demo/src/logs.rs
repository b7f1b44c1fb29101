//! Log hygiene: what the service writes about values it does not control.
//!
//! - [`redact_url`]: credentials never reach a log line.
//! - [`untrusted`]: a client's value (a path segment, a header) is truncated and escaped, so it
//!   cannot forge lines, color a terminal or fill a disk.
//! - [`Aggregated`]: an error that repeats per request is one line per interval with a count,
//!   not one line per event.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Characters of a client's value kept in a log line.
pub(crate) const UNTRUSTED_CHARS: usize = 64;

/// `url` with its password replaced by `***`: URL form (`postgres://user:secret@host/db`) and
/// key-value form (`host=h password=secret`). Everything else is kept, so the line still says
/// where the service connects.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // The authority ends at the first `/`, `?` or `#`; its user info at the last `@`.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let redacted = match authority.rsplit_once('@') {
            Some((user_info, host)) => match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => authority.to_owned(),
            },
            None => authority.to_owned(),
        };
        return format!("{scheme}://{redacted}{}", redact_query(tail));
    }
    url.split(' ')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `?password=` in a URL's query.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_owned() };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// A client's value for a log line: at most [`UNTRUSTED_CHARS`] characters, control
/// characters, quotes and backslashes escaped (`\n`, `\u{1b}`), and `…(N bytes)` when cut.
pub(crate) fn untrusted(value: &str) -> String {
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == UNTRUSTED_CHARS {
            out.push_str(&format!("…({} bytes)", value.len()));
            break;
        }
        out.extend(c.escape_debug());
    }
    out
}

/// Counts events and says when to log them: at most once per interval, with how many
/// happened since the last line.
#[derive(Debug)]
pub(crate) struct Aggregated {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Aggregated {
    pub(crate) const fn new(interval: Duration) -> Self {
        Aggregated { interval, state: Mutex::new((None, 0)) }
    }

    /// Counts one event at `now`; `Some(n)` when a line is due, for the `n` events since the
    /// last one (this one included).
    pub(crate) fn event(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, pending) = &mut *state;
        *pending += 1;
        let due = last.is_none_or(|l| now.duration_since(l) >= self.interval);
        if !due {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/items"), "postgres://app:***@db:5432/items");
        assert_eq!(redact_url("postgres://app:p@ss@db/items"), "postgres://app:***@db/items");
        assert_eq!(redact_url("postgres://app@db/items"), "postgres://app@db/items");
        assert_eq!(
            redact_url("postgres://db/items?user=a&password=x"),
            "postgres://db/items?user=a&password=***"
        );
        assert_eq!(redact_url("host=db user=app password=s3cret"), "host=db user=app password=***");
        for url in ["postgres://u:s3cret@h/d", "host=h password=s3cret", "postgres://h/d?password=s3cret"] {
            assert!(!redact_url(url).contains("s3cret"), "{url}");
        }
    }

    #[test]
    fn client_values_are_escaped_and_truncated() {
        assert_eq!(untrusted("kafka"), "kafka");
        assert_eq!(untrusted("a\nforged line"), "a\\nforged line");
        assert_eq!(untrusted("\u{1b}[31mred"), "\\u{1b}[31mred");
        let long = "x".repeat(60_000);
        let logged = untrusted(&long);
        assert_eq!(logged, format!("{}…(60000 bytes)", "x".repeat(UNTRUSTED_CHARS)));
        assert!(!logged.contains('\n'));
    }

    #[test]
    fn repeated_events_are_one_line_per_interval_with_a_count() {
        let log = Aggregated::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(log.event(t0), Some(1));
        let mut lines = Vec::new();
        for ms in 1..=2_500 {
            if let Some(n) = log.event(t0 + Duration::from_millis(ms)) {
                lines.push((ms, n));
            }
        }
        // 2 500 events in 2.5 s: two more lines, and every event counted once.
        assert_eq!(lines, [(1_000, 1_000), (2_000, 1_000)]);
        assert_eq!(log.event(t0 + Duration::from_millis(3_000)), Some(501));
    }
}
