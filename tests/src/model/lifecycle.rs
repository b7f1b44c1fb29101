//! State that survives a restart and a reconfiguration, in the model: [`ModelSaved`] (what
//! `Breaker::save` yields, and its binary form), [`Model::save`], [`Model::restore`],
//! [`Model::restart`], [`Model::reconfigure`] and [`Model::update_config`].
//!
//! Written from the documentation of the core's `restore.rs` (module docs, `SavedState`,
//! `SavedState::BYTES`, `RestoreError`, `Breaker::restore`, `Trigger::Restore`) and
//! `reconfigure.rs` (module docs and its table, `Breaker::reconfigure`, `update_config`,
//! `From<ValidConfig> for Config`):
//!
//! - **save**: CLOSED saves its consecutive-failure count (0 under a rate policy), OPEN its
//!   backoff level and the time left before a probe (0 once the open period is over),
//!   HALF_OPEN its level, FORCED_OPEN and DISABLED themselves. Only durations.
//! - **restore** checks the saved state against the breaker (format, layout, policy, a count
//!   below the threshold, a level the config reaches, an open time no longer than the config
//!   stays open at that level with the largest jitter) and refuses anything else with a
//!   `RestoreError`, changing nothing. Then: CLOSED `n` → CLOSED `n`; OPEN (`k`, `r`) → OPEN at
//!   `k` with `r` left, cut to the open period of the cycle it enters (whose jitter is that
//!   cycle's); HALF_OPEN → CLOSED 0; FORCED_OPEN, DISABLED kept. Into the state the breaker is
//!   already in (its phase, not the shown state), in place: no new generation, nothing
//!   reported, a CLOSED count or an OPEN period replaced as any count change does (a ramp in
//!   progress is kept, a CLOSED breaker never starts one; the count shown while OPEN stays).
//!   Into another state, a new generation reported once with `Trigger::Restore`: its
//!   `failure_count` is what `failure_count()` shows right after (the restored count in
//!   CLOSED; in OPEN, whose opening count is not saved, the smallest it can have opened with,
//!   as `health.rs` documents: the threshold, 0 with a rate policy; else 0), into OPEN
//!   `open_duration` is the whole period and `open_for` the part already served (`period −
//!   left`), decided at the current reading.
//! - **reconfigure** validates the new settings (an invalid change names the field and leaves
//!   the old config), then swaps them in without touching the state: every later decision
//!   uses the new values, measured from the timestamps and counts the breaker already holds
//!   (the table in `reconfigure.rs`), which the model does by reading its config at every
//!   decision. `update_config` edits the builder of the config in force, where a backoff cap
//!   equal to the timeout reads as "no backoff".

use breaker_core::limits::WORD_LAYOUT;
use breaker_core::{RestoreError, State, Trigger};

use super::{Model, ModelWindow, Phase, WORD_BITS};
use crate::config::{Edit, ModelConfig, Settings};

/// What a saved state holds about the breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Saved {
    /// CLOSED with this many consecutive failures.
    Closed {
        /// The count.
        failures: u32,
    },
    /// OPEN at a backoff level, with the time left before a probe.
    Open {
        /// Failed recoveries in a row.
        level: u32,
        /// Milliseconds left (0 if the open period was over).
        left_ms: u64,
    },
    /// HALF_OPEN at a backoff level.
    HalfOpen {
        /// Failed recoveries in a row.
        level: u32,
    },
    /// Forced open.
    ForcedOpen,
    /// ForcedClosed.
    ForcedClosed,
}

/// The model of a `SavedState`: its documented fields as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelSaved {
    /// Format version (1).
    pub format: u8,
    /// Word layout in bits: 64 or 32.
    pub layout: u8,
    /// Trip policy: 1 consecutive failures, 2 rate window.
    pub policy: u8,
    /// The state.
    pub state: Saved,
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

const MAGIC: u8 = 0xB5;

impl ModelSaved {
    /// Size of the binary form.
    pub const BYTES: usize = 24;

    /// The public state it was saved in.
    pub fn state(&self) -> State {
        match self.state {
            Saved::Closed { .. } => State::Closed,
            Saved::Open { .. } => State::Open,
            Saved::HalfOpen { .. } => State::HalfOpen,
            Saved::ForcedOpen => State::ForcedOpen,
            Saved::ForcedClosed => State::ForcedClosed,
        }
    }

    /// Consecutive failures (CLOSED; else 0).
    pub fn failure_count(&self) -> u32 {
        match self.state {
            Saved::Closed { failures } => failures,
            _ => 0,
        }
    }

    /// Backoff level (OPEN and HALF_OPEN; else 0).
    pub fn backoff_level(&self) -> u32 {
        match self.state {
            Saved::Open { level, .. } | Saved::HalfOpen { level } => level,
            _ => 0,
        }
    }

    /// Milliseconds left before a probe, while OPEN.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self.state {
            Saved::Open { left_ms, .. } => Some(left_ms),
            _ => None,
        }
    }

    /// `"64-bit"` or `"32-bit"`.
    pub fn layout_name(&self) -> &'static str {
        if self.layout == 32 {
            "32-bit"
        } else {
            "64-bit"
        }
    }

    /// The documented binary form (`SavedState::BYTES`): magic, format, layout, policy, state
    /// tag, level, failures (u32 LE), time left (u64 LE), 2 reserved zero bytes, CRC-32 of the
    /// first 20 bytes (LE).
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        let (tag, level, failures, left) = match self.state {
            Saved::Closed { failures } => (1, 0, failures, 0),
            Saved::Open { level, left_ms } => (2, level, 0, left_ms),
            Saved::HalfOpen { level } => (3, level, 0, 0),
            Saved::ForcedOpen => (4, 0, 0, 0),
            Saved::ForcedClosed => (5, 0, 0, 0),
        };
        b[..6].copy_from_slice(&[MAGIC, self.format, self.layout, self.policy, tag, level as u8]);
        b[6..10].copy_from_slice(&failures.to_le_bytes());
        b[10..18].copy_from_slice(&left.to_le_bytes());
        let crc = crc32(&b[..20]);
        b[20..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads the binary form as `SavedState::from_bytes` documents it: a wrong magic number
    /// or checksum is `Corrupt`, another format version `UnsupportedFormat`, a field holding a
    /// value `to_bytes` never writes `Invalid` (the field names are the model's: compare with
    /// [`same_error`]).
    pub fn from_bytes(b: &[u8; 24]) -> Result<ModelSaved, RestoreError> {
        if b[0] != MAGIC || crc32(&b[..20]).to_le_bytes() != b[20..24] {
            return Err(RestoreError::Corrupt);
        }
        if b[1] != 1 {
            return Err(RestoreError::UnsupportedFormat { found: b[1], supported: 1 });
        }
        let invalid = |field| Err(RestoreError::Invalid { field });
        let (tag, level) = (b[4], u32::from(b[5]));
        let failures = u32::from_le_bytes(b[6..10].try_into().unwrap());
        let left_ms = u64::from_le_bytes(b[10..18].try_into().unwrap());
        if b[2] != 64 && b[2] != 32 {
            return invalid("layout");
        }
        if b[3] != 1 && b[3] != 2 {
            return invalid("policy");
        }
        let state = match tag {
            1 => Saved::Closed { failures },
            2 => Saved::Open { level, left_ms },
            3 => Saved::HalfOpen { level },
            4 => Saved::ForcedOpen,
            5 => Saved::ForcedClosed,
            _ => return invalid("state"),
        };
        if level != 0 && !matches!(tag, 2 | 3) {
            return invalid("backoff_level");
        }
        if failures != 0 && tag != 1 {
            return invalid("failure_count");
        }
        if left_ms != 0 && tag != 2 {
            return invalid("retry_after");
        }
        if b[18] != 0 || b[19] != 0 {
            return invalid("reserved");
        }
        Ok(ModelSaved { format: 1, layout: b[2], policy: b[3], state })
    }
}

/// `a` and `b` are the same error up to the names the documentation does not fix (the field
/// of `Invalid`, the layout and policy names).
pub fn same_error(a: &RestoreError, b: &RestoreError) -> bool {
    fn blank(e: &RestoreError) -> RestoreError {
        match *e {
            RestoreError::Invalid { .. } => RestoreError::Invalid { field: "" },
            RestoreError::Layout { .. } => RestoreError::Layout { saved: "", current: "" },
            RestoreError::Policy { .. } => RestoreError::Policy { saved: "", current: "" },
            other => other,
        }
    }
    blank(a) == blank(b)
}

/// What a checked saved state restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Closed { failures: u32 },
    Open { level: u32, left_ms: u64 },
    ForcedOpen,
    ForcedClosed,
}

impl Model {
    /// What `Breaker::save` should yield now (a pure read).
    pub fn save(&self) -> ModelSaved {
        let state = match self.phase {
            Phase::Closed { failures, .. } => Saved::Closed { failures },
            Phase::Open { opened_at_ms, level } => {
                Saved::Open { level, left_ms: self.open_left_ms(opened_at_ms, level).unwrap_or(0) }
            }
            Phase::HalfOpen { level, .. } => Saved::HalfOpen { level },
            Phase::ForcedOpen => Saved::ForcedOpen,
            Phase::ForcedClosed => Saved::ForcedClosed,
        };
        ModelSaved { format: 1, layout: WORD_BITS as u8, policy: self.policy_code(), state }
    }

    /// 1 for the consecutive-failure policy, 2 for a rate window.
    fn policy_code(&self) -> u8 {
        if self.window.is_some() {
            2
        } else {
            1
        }
    }

    /// Checks `saved` against this breaker.
    fn plan(&self, saved: &ModelSaved) -> Result<Target, RestoreError> {
        if saved.format != 1 {
            return Err(RestoreError::UnsupportedFormat { found: saved.format, supported: 1 });
        }
        if u32::from(saved.layout) != WORD_BITS {
            return Err(RestoreError::Layout { saved: saved.layout_name(), current: WORD_LAYOUT });
        }
        if saved.policy != self.policy_code() {
            return Err(RestoreError::Policy { saved: "", current: "" });
        }
        let cfg = &self.config;
        let level_ok = |level: u32| {
            let max = cfg.max_level();
            if level > max {
                Err(RestoreError::BackoffLevel { level, max })
            } else {
                Ok(level)
            }
        };
        Ok(match saved.state {
            Saved::Closed { failures } => {
                if self.window.is_some() && failures != 0 {
                    return Err(RestoreError::Invalid { field: "failure_count" });
                }
                if failures >= cfg.failure_threshold {
                    return Err(RestoreError::FailureCount {
                        count: failures,
                        threshold: cfg.failure_threshold,
                    });
                }
                Target::Closed { failures }
            }
            Saved::Open { level, left_ms } => {
                let level = level_ok(level)?;
                let max_ms = cfg.backoff_ms(level) + cfg.jitter.map_or(0, |j| j.max_ms);
                if left_ms > max_ms {
                    return Err(RestoreError::RetryAfter { ms: left_ms, max_ms });
                }
                Target::Open { level, left_ms }
            }
            Saved::HalfOpen { level } => {
                level_ok(level)?;
                Target::Closed { failures: 0 }
            }
            Saved::ForcedOpen => Target::ForcedOpen,
            Saved::ForcedClosed => Target::ForcedClosed,
        })
    }

    /// `Breaker::restore`: see the module docs.
    pub fn restore(&mut self, saved: &ModelSaved) -> Result<(), RestoreError> {
        let target = match self.plan(saved) {
            Ok(t) => t,
            Err(e) => {
                self.coverage.restore_errors += 1;
                return Err(e);
            }
        };
        let now = self.now_ms;
        let before = self.transitions.len();
        match (target, self.phase) {
            (Target::Closed { failures }, Phase::Closed { ramping, .. }) => {
                self.phase = Phase::Closed { failures, ramping };
            }
            (Target::Closed { failures }, _) => {
                let to = Phase::Closed { failures, ramping: false };
                self.change_to(to, Trigger::Restore, failures, None, None);
            }
            (Target::Open { level, left_ms }, Phase::Open { .. }) => {
                let period = self.config.open_ms(level, self.generation());
                let served = period - left_ms.min(period);
                self.phase = Phase::Open { opened_at_ms: now.wrapping_sub(served), level };
            }
            (Target::Open { level, left_ms }, _) => {
                let gens = u64::from(breaker_core::limits::GENERATIONS);
                let next = ((self.generation + 1) % gens) as u32;
                let period = self.config.open_ms(level, next);
                let served = period - left_ms.min(period);
                let to = Phase::Open { opened_at_ms: now.wrapping_sub(served), level };
                // The count that opened it is not saved: it shows the smallest it can have
                // opened with (the threshold; 0 with a rate policy), and so does the transition.
                let floor = if self.window.is_some() { 0 } else { self.config.failure_threshold };
                self.change_to(to, Trigger::Restore, floor, Some(served), Some(now));
                self.coverage.restored_open += 1;
            }
            (Target::ForcedOpen, Phase::ForcedOpen) | (Target::ForcedClosed, Phase::ForcedClosed) => {}
            (Target::ForcedOpen, _) => self.change_to(Phase::ForcedOpen, Trigger::Restore, 0, None, None),
            (Target::ForcedClosed, _) => self.change_to(Phase::ForcedClosed, Trigger::Restore, 0, None, None),
        }
        self.coverage.restores_in_place += u64::from(self.transitions.len() == before);
        Ok(())
    }

    /// A fresh breaker with `config` (CLOSED, generation 0, an empty window, no stamp) in
    /// place of this one, on the same clock; what it went through so far is kept.
    pub fn restart(&mut self, config: ModelConfig) {
        let coverage = self.coverage;
        let transitions = core::mem::take(&mut self.transitions);
        *self = Model::with_bugs(config, self.now_ms, self.bugs);
        self.coverage = coverage;
        self.coverage.restarts += 1;
        self.transitions = transitions;
        debug_assert!(
            self.window == config.window().map(|w| ModelWindow::new(*w, self.bugs.window_tag_horizons))
        );
    }

    /// `Breaker::reconfigure`: the settings in force are replaced by `new` if they are valid
    /// (returning the old ones), else the field `Config::validate` names.
    pub fn reconfigure(&mut self, new: Settings) -> Result<Settings, &'static str> {
        if let Some(field) = new.problem() {
            self.coverage.reconfigure_errors += 1;
            return Err(field);
        }
        let old = self.config.settings();
        if new.shown() != old.shown() || new.jitter.map(|j| j.seed) != old.jitter.map(|j| j.seed) {
            self.coverage.reconfigurations += 1;
            self.coverage.reconfigured_mid_recovery +=
                u64::from(matches!(self.phase, Phase::Open { .. } | Phase::HalfOpen { .. }));
        }
        self.config = self.config.with_settings(new);
        Ok(old)
    }

    /// `Breaker::update_config` with `edit` made on the builder of the config in force.
    pub fn update_config(&mut self, edit: Edit) -> Result<Settings, &'static str> {
        let new = self.config.settings().as_rebuilt().edited(edit);
        self.reconfigure(new)
    }
}
