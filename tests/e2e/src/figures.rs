//! Figures: percentiles, request windows, log lines and Prometheus samples.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::load::{Kind, Outcome, Sample};

/// The `p`th percentile (nearest rank) of `sorted`; zero if empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `d` in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Latencies of the requests of `kind` started in `[from, to)`, and how many of them were not
/// answered in time or at all.
pub fn window(samples: &[Sample], kind: Kind, from: Instant, to: Instant) -> (Vec<Duration>, usize) {
    let mut lat = Vec::new();
    let mut unanswered = 0;
    for s in samples.iter().filter(|s| s.kind == kind && s.start >= from && s.start < to) {
        match s.outcome {
            Outcome::Answered { .. } => lat.push(s.latency),
            _ => unanswered += 1,
        }
    }
    lat.sort();
    (lat, unanswered)
}

/// The `fields` of the log lines about breaker `breaker`.
pub fn log_messages<'a>(logs: &'a [Value], breaker: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| l["fields"]["circuit_breaker"].as_str() == Some(breaker))
        .map(|l| &l["fields"])
        .collect()
}

/// The sum of the Prometheus samples of `name` whose labels include `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// When a JSON log line (tracing-subscriber's format) was written: its `timestamp`, RFC 3339 in
/// UTC (`2026-12-02T01:05:03.123456Z`), as a [`SystemTime`].
pub fn log_time(line: &Value) -> Option<SystemTime> {
    let t = line["timestamp"].as_str()?.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = time.splitn(3, ':');
    let (h, min) = (c.next()?.parse::<u64>().ok()?, c.next()?.parse::<u64>().ok()?);
    let secs: f64 = c.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's `days_from_civil`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let whole = days * 86_400 + h * 3_600 + min * 60;
    Some(UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_secs_f64(secs))
}

/// Maps wall-clock times (log lines) onto the test's [`Instant`]s, from one reading of both
/// taken together. On one machine over a minute, the two clocks do not drift apart measurably.
#[derive(Clone, Copy, Debug)]
pub struct Clocks {
    wall: SystemTime,
    mono: Instant,
}

impl Clocks {
    /// Reads both clocks now.
    pub fn now() -> Clocks {
        Clocks { wall: SystemTime::now(), mono: Instant::now() }
    }

    /// The instant at which the wall clock read `t`.
    pub fn instant(&self, t: SystemTime) -> Instant {
        match t.duration_since(self.wall) {
            Ok(after) => self.mono + after,
            Err(before) => self.mono - before.duration(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_read_as_utc() {
        let line = serde_json::json!({"timestamp": "2026-12-02T01:05:03.250000Z"});
        let t = log_time(&line).unwrap().duration_since(UNIX_EPOCH).unwrap();
        // `date -u -d 2026-12-02T01:05:03Z +%s`
        assert_eq!(t, Duration::from_secs(1_796_173_503) + Duration::from_millis(250));
        assert_eq!(log_time(&serde_json::json!({"timestamp": "yesterday"})), None);
    }
}
