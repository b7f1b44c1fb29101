//! The states a remote record puts a local breaker in, built as [`SavedState`]s through the
//! core's documented binary form ([`SavedState::BYTES`]) and applied with `restore`: the core
//! checks them against the breaker's config and applies them in its CAS loop like any other
//! transition, reported once (trigger `restore`). The word layout and policy bytes are taken
//! from the breaker's own saved state, so they always match it.

use breaker_core::{RestoreError, SavedState};

const MAGIC: u8 = 0xB5;
const TAG_CLOSED: u8 = 1;
const TAG_OPEN: u8 = 2;

/// CRC-32 (IEEE 802.3, reflected), as the binary form's last four bytes hold it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn build(own: &SavedState, tag: u8, level: u8, left_ms: u64) -> Result<SavedState, RestoreError> {
    let mine = own.to_bytes();
    let mut b = [0u8; SavedState::BYTES];
    b[0] = MAGIC;
    b[1] = SavedState::FORMAT;
    b[2] = mine[2]; // word layout
    b[3] = mine[3]; // trip policy
    b[4] = tag;
    b[5] = level;
    b[10..18].copy_from_slice(&left_ms.to_le_bytes());
    let crc = crc32(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    SavedState::from_bytes(&b)
}

/// OPEN at backoff `level`, admitting a probe after `left_ms`, for the breaker whose own saved
/// state is `own`.
pub(crate) fn open(own: &SavedState, level: u32, left_ms: u64) -> Result<SavedState, RestoreError> {
    let level =
        u8::try_from(level).map_err(|_| RestoreError::BackoffLevel { level, max: u32::from(u8::MAX) })?;
    build(own, TAG_OPEN, level, left_ms.max(1))
}

/// CLOSED with no failures.
pub(crate) fn closed(own: &SavedState) -> Result<SavedState, RestoreError> {
    build(own, TAG_CLOSED, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use breaker_core::{Breaker, Config, ManualClock, State};
    use core::time::Duration;

    #[test]
    fn the_checksum_is_the_cores() {
        let b = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
        let _ = b.call(|| Err::<(), _>("down"));
        let bytes = b.save().to_bytes();
        assert_eq!(crc32(&bytes[..20]).to_le_bytes(), bytes[20..24]);
    }

    #[test]
    fn open_and_closed_restore_into_the_breaker() {
        let clock = ManualClock::new();
        let b =
            Breaker::try_new("db", Config::new().recovery_timeout(Duration::from_secs(60)), &clock).unwrap();
        b.restore(&open(&b.save(), 0, 20_000).unwrap()).unwrap();
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(Duration::from_secs(20)));
        b.restore(&closed(&b.save()).unwrap()).unwrap();
        assert_eq!((b.state(), b.failure_count()), (State::Closed, 0));
        let too_long = open(&b.save(), 0, 61_000).unwrap();
        assert_eq!(b.restore(&too_long), Err(RestoreError::RetryAfter { ms: 61_000, max_ms: 60_000 }));
        assert!(matches!(open(&b.save(), 300, 1), Err(RestoreError::BackoffLevel { level: 300, .. })));
    }
}
