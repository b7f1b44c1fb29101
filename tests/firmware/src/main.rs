//! The breaker on a (emulated) Cortex-M3: a `static` breaker driven by the SysTick hardware clock
//! through the core's embedded-time adapter, shared between the main loop and two interrupt
//! handlers, run through the seed's scenarios against a simulated flaky peripheral.
//!
//! Then async calls through the core's `call_async` on a poll-loop executor of a few lines
//! (`block_on`: poll, `wfi` until the next SysTick; no embassy, no allocation): success, trip and
//! rejection, a classifier, a dropped probe future whose slot comes back, timeouts counted as
//! failures. And a breaker that survives a reset: the `modem` breaker is tripped, its
//! `SavedState` sealed into no-init RAM (`.uninit`, with a magic word and a checksum) and the MCU
//! reset with `SCB::sys_reset`; boot 2 finds it OPEN with the time that was left, rejecting, and
//! probing once that time passed; boot 3 refuses a damaged record and starts fresh. The run's
//! own progress crosses the resets the same way; the output of the three boots is one log.
//!
//! Output goes to the host through semihosting; the exit status is 0 only if every scenario
//! passed, and the last line is `PASS` or `FAIL`. Run it with `ci/firmware.sh`, or by hand:
//!
//! ```text
//! cd tests/firmware
//! cargo run --release --target thumbv7m-none-eabi
//! cargo run --release --target thumbv6m-none-eabi --features v6m
//! ```
#![no_std]
#![no_main]

use core::fmt::{self, Write as _};
use core::future::Future;
use core::pin::{pin, Pin};
use core::sync::atomic::AtomicU32 as PlainAtomicU32;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use breaker_core::{
    call_async, AsBreaker, Breaker, CallAsync, CallError, CircuitOpen, Classify, Clock as _, Config,
    EmbeddedTimeClock, Observer, RestoreError, SavedState, State, Transition, Trigger, ValidConfig, Verdict,
};
use cortex_m::peripheral::scb::{Exception, VectActive};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SCB;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio, nr};
use embedded_time::{clock, fraction::Fraction, Instant};
use portable_atomic::{AtomicBool, AtomicU32, Ordering};

// ---------------------------------------------------------------------------------------------
// Output: one semihosting write per line, so lines from an interrupt handler never split a line
// of the main loop.
// ---------------------------------------------------------------------------------------------

/// A line assembled on the stack (truncated at its capacity) and written in one piece.
struct Line {
    buf: [u8; 200],
    len: usize,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes one formatted line to the host's stdout. No critical section: `hio` opens the host
/// console per line instead of keeping a shared handle.
fn emit(args: fmt::Arguments<'_>) {
    let mut line = Line { buf: [0; 200], len: 0 };
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(&line.buf[..line.len]);
    }
}

macro_rules! log {
    ($($arg:tt)*) => { emit(format_args!($($arg)*)) };
}

// ---------------------------------------------------------------------------------------------
// The hardware clock: SysTick interrupts counting milliseconds, as an `embedded_time::Clock`.
// ---------------------------------------------------------------------------------------------

/// The LM3S6965's system clock at reset as qemu models it (200 MHz PLL / 16).
const SYSCLK_HZ: u32 = 12_500_000;

/// Milliseconds since SysTick was started. Written only by the SysTick handler, so a plain
/// load/store atomic is enough on every target (no read-modify-write, no critical section).
static MILLIS: PlainAtomicU32 = PlainAtomicU32::new(0);

/// The Cortex-M SysTick timer, interrupting every millisecond, as an `embedded_time::Clock`.
#[derive(Debug)]
struct SysTickClock;

impl embedded_time::Clock for SysTickClock {
    type T = u32;
    const SCALING_FACTOR: Fraction = Fraction::new(1, 1_000);

    fn try_now(&self) -> Result<Instant<Self>, clock::Error> {
        Ok(Instant::new(MILLIS.load(Ordering::Relaxed)))
    }
}

/// The hardware clock as the core sees it, through the core's embedded-time adapter.
type HwClock = EmbeddedTimeClock<SysTickClock>;

/// Wall-clock milliseconds on the host (semihosting `SYS_ELAPSED`), to check the emulated
/// SysTick against real time. `None` if the host does not implement it.
fn host_ms() -> Option<u64> {
    let mut ticks = [0u32; 2];
    // SAFETY: SYS_ELAPSED writes exactly two words (the 64-bit tick count) through the pointer
    // passed in r1, which is a live, writable, word-aligned `[u32; 2]` on our stack; the asm is
    // not `nomem`, so the compiler reloads `ticks` afterwards. SYS_TICKFREQ takes no argument.
    let (ret, freq) = unsafe {
        let ret = cortex_m_semihosting::syscall1(nr::ELAPSED, ticks.as_mut_ptr() as usize);
        (ret, cortex_m_semihosting::syscall1(nr::TICKFREQ, 0))
    };
    if ret != 0 || freq == 0 || freq == usize::MAX {
        return None;
    }
    let t = u64::from(ticks[0]) | (u64::from(ticks[1]) << 32);
    Some(t / (freq as u64 / 1_000).max(1))
}

// ---------------------------------------------------------------------------------------------
// The observer: logs every transition as the seed does, and counts what it saw, and where.
// ---------------------------------------------------------------------------------------------

/// Where the code is running: the main loop or an exception handler.
fn context() -> &'static str {
    match SCB::vect_active() {
        VectActive::ThreadMode => "main",
        VectActive::Exception(Exception::PendSV) => "PendSV",
        VectActive::Exception(Exception::SysTick) => "SysTick",
        _ => "handler",
    }
}

fn in_handler() -> bool {
    SCB::vect_active() != VectActive::ThreadMode
}

/// Logs transitions through semihosting (the seed's log lines and fields) and keeps counters the
/// scenarios assert on.
struct SeedLog {
    transitions: AtomicU32,
    transitions_in_handler: AtomicU32,
    /// `to | trigger << 8 | failure_count << 16` of the last transition.
    last: AtomicU32,
    last_open_for_ms: AtomicU32,
    rejections: AtomicU32,
    outcomes: AtomicU32,
    outcomes_in_handler: AtomicU32,
}

impl SeedLog {
    const fn new() -> Self {
        SeedLog {
            transitions: AtomicU32::new(0),
            transitions_in_handler: AtomicU32::new(0),
            last: AtomicU32::new(u32::MAX),
            last_open_for_ms: AtomicU32::new(0),
            rejections: AtomicU32::new(0),
            outcomes: AtomicU32::new(0),
            outcomes_in_handler: AtomicU32::new(0),
        }
    }

    fn last(&self) -> (u32, u32, u32) {
        let v = self.last.load(Ordering::SeqCst);
        (v & 0xff, (v >> 8) & 0xff, v >> 16)
    }
}

fn encode_transition(to: State, trigger: Trigger, failure_count: u32) -> u32 {
    to as u32 | (trigger as u32) << 8 | failure_count.min(0xffff) << 16
}

/// Seconds with millisecond precision, as the seed's `elapsed_seconds`.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0.as_secs(), self.0.subsec_millis())
    }
}

impl Observer for SeedLog {
    fn on_transition(&self, t: &Transition) {
        // The decision's clock reading when there was one, else the hardware clock now.
        let at = t.at.map_or(u64::from(MILLIS.load(Ordering::Relaxed)), |a| a.as_millis());
        let ctx = context();
        match (t.to, t.trigger) {
            (State::Open, _) => log!(
                "  [{at:>5} ms {ctx}] ERROR Circuit breaker '{}' opening circuit  circuit_breaker={} state=open failure_count={} threshold={} trigger={:?}",
                t.name, t.name, t.failure_count, t.threshold, t.trigger
            ),
            (State::HalfOpen, _) => log!(
                "  [{at:>5} ms {ctx}] INFO  Circuit breaker '{}' transitioning to HALF_OPEN  circuit_breaker={} state=half_open elapsed_seconds={}",
                t.name, t.name, Secs(t.open_for.unwrap_or_default())
            ),
            (State::Closed, Trigger::ProbeSucceeded) => log!(
                "  [{at:>5} ms {ctx}] INFO  Circuit breaker '{}' recovered, closing circuit  circuit_breaker={} state=closed",
                t.name, t.name
            ),
            _ => log!(
                "  [{at:>5} ms {ctx}] INFO  Circuit breaker '{}' {} -> {} ({:?})",
                t.name, t.from, t.to, t.trigger
            ),
        }
        if let Some(d) = t.open_for {
            let ms = u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
            self.last_open_for_ms.store(ms, Ordering::SeqCst);
        }
        self.last.store(encode_transition(t.to, t.trigger, t.failure_count), Ordering::SeqCst);
        if in_handler() {
            self.transitions_in_handler.fetch_add(1, Ordering::SeqCst);
        }
        self.transitions.fetch_add(1, Ordering::SeqCst);
    }

    fn on_rejected(&self, _rejection: &CircuitOpen) {
        self.rejections.fetch_add(1, Ordering::SeqCst);
    }

    fn on_outcome(&self, _name: &'static str, _verdict: Verdict) {
        if in_handler() {
            self.outcomes_in_handler.fetch_add(1, Ordering::SeqCst);
        }
        self.outcomes.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The breakers, in statics (const construction), and the flaky peripheral they protect.
// ---------------------------------------------------------------------------------------------

const THRESHOLD: u32 = 3;
/// Long enough to be robust against qemu's timer jitter, short enough to keep the run quick.
const RECOVERY_MS: u64 = 50;

const CONFIG: ValidConfig = match Config::new()
    .failure_threshold(THRESHOLD)
    .recovery_timeout(Duration::from_millis(RECOVERY_MS))
    .validate()
{
    Ok(c) => c,
    Err(_) => panic!("invalid sensor config"),
};

/// The breaker under test: shared by the main loop, PendSV and (through the clock) SysTick.
static SENSOR: Breaker<HwClock, SeedLog> =
    Breaker::with_observer("sensor", CONFIG, EmbeddedTimeClock::new(SysTickClock), SeedLog::new());

const STRESS_CONFIG: ValidConfig =
    match Config::new().failure_threshold(breaker_core::limits::MAX_FAILURE_THRESHOLD).validate() {
        Ok(c) => c,
        Err(_) => panic!("invalid stress config"),
    };

/// Counts failures from the main loop and from the SysTick handler at once.
static STRESS: Breaker<HwClock> = Breaker::new("stress", STRESS_CONFIG, EmbeddedTimeClock::new(SysTickClock));

/// Why a bus transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BusError {
    Nack,
}

/// A sensor on a bus that can be made to NACK every transaction.
struct FlakyPeripheral {
    healthy: AtomicBool,
    reads: AtomicU32,
}

impl FlakyPeripheral {
    const fn new() -> Self {
        FlakyPeripheral { healthy: AtomicBool::new(true), reads: AtomicU32::new(0) }
    }

    fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Transactions attempted so far (a rejected call never gets here).
    fn reads(&self) -> u32 {
        self.reads.load(Ordering::SeqCst)
    }

    fn read(&self) -> Result<u16, BusError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        if self.healthy.load(Ordering::SeqCst) {
            Ok(0x2a00 | (n & 0xff) as u16)
        } else {
            Err(BusError::Nack)
        }
    }
}

static BUS: FlakyPeripheral = FlakyPeripheral::new();

// ---------------------------------------------------------------------------------------------
// Interrupt handlers that use the breakers.
// ---------------------------------------------------------------------------------------------

/// Calls PendSV is asked to make through `SENSOR`.
static ISR_REQUESTED: AtomicU32 = AtomicU32::new(0);
/// Calls PendSV made that ran the peripheral (success or failure).
static ISR_RAN: AtomicU32 = AtomicU32::new(0);
/// Calls PendSV made that the breaker rejected.
static ISR_REJECTED: AtomicU32 = AtomicU32::new(0);

/// The software-triggered interrupt: reads the peripheral through the shared breaker.
#[exception]
fn PendSV() {
    let n = ISR_REQUESTED.swap(0, Ordering::SeqCst);
    for _ in 0..n {
        match SENSOR.call(|| BUS.read()) {
            Ok(_) | Err(CallError::Inner(_)) => ISR_RAN.fetch_add(1, Ordering::SeqCst),
            Err(CallError::Open(_)) => ISR_REJECTED.fetch_add(1, Ordering::SeqCst),
        };
    }
}

/// Set while the preemption scenario runs: SysTick then records a failure on `STRESS` each tick.
static STRESS_ON: AtomicBool = AtomicBool::new(false);
/// Failures SysTick recorded on `STRESS` (written only by SysTick).
static STRESS_ISR: PlainAtomicU32 = PlainAtomicU32::new(0);

/// The millisecond tick: the hardware clock, and a second writer of `STRESS`.
#[exception]
fn SysTick() {
    MILLIS.store(MILLIS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    if STRESS_ON.load(Ordering::Relaxed) {
        if let Ok(permit) = STRESS.try_acquire() {
            permit.failure();
            STRESS_ISR.store(STRESS_ISR.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }
}

/// Has PendSV make `n` calls through `SENSOR` and waits until it has run.
/// Returns (calls that ran, calls rejected) by the handler.
fn calls_from_interrupt(n: u32) -> (u32, u32) {
    let (ran, rejected) = (ISR_RAN.load(Ordering::SeqCst), ISR_REJECTED.load(Ordering::SeqCst));
    ISR_REQUESTED.store(n, Ordering::SeqCst);
    SCB::set_pendsv();
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    (ISR_RAN.load(Ordering::SeqCst) - ran, ISR_REJECTED.load(Ordering::SeqCst) - rejected)
}

// ---------------------------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------------------------

/// Checks of one scenario.
struct Checks {
    failed: u32,
}

impl Checks {
    fn check(&mut self, ok: bool, what: fmt::Arguments<'_>) {
        if ok {
            log!("    ok   {}", what);
        } else {
            log!("    FAIL {}", what);
            self.failed += 1;
        }
    }
}

macro_rules! check {
    ($c:expr, $cond:expr, $($arg:tt)*) => { $c.check($cond, format_args!($($arg)*)) };
}

fn now_ms() -> u64 {
    SENSOR.clock().now().as_millis()
}

/// Busy-waits until the hardware clock reads at least `deadline` (ms). Gives up (returns
/// `false`) if the host's wall clock says two seconds passed: a stalled SysTick.
fn wait_until(deadline: u64) -> bool {
    let host_start = host_ms();
    let mut spins: u32 = 0;
    while now_ms() < deadline {
        spins = spins.wrapping_add(1);
        if spins & 0xfff == 0 {
            if let (Some(a), Some(b)) = (host_start, host_ms()) {
                if b.saturating_sub(a) > 2_000 {
                    return false;
                }
            }
        }
        cortex_m::asm::nop();
    }
    true
}

fn is_open_err<T, E>(r: &Result<T, CallError<E>>) -> bool {
    matches!(r, Err(CallError::Open(_)))
}

fn is_inner_err<T, E>(r: &Result<T, CallError<E>>) -> bool {
    matches!(r, Err(CallError::Inner(_)))
}

fn fresh() {
    SENSOR.reset();
    BUS.set_healthy(true);
}

/// Trips `SENSOR` with `THRESHOLD` failures from the main loop; returns the clock after it.
fn trip(c: &mut Checks) -> u64 {
    BUS.set_healthy(false);
    for _ in 0..THRESHOLD {
        let _ = SENSOR.call(|| BUS.read());
    }
    check!(c, SENSOR.state() == State::Open, "tripped: state={}", SENSOR.state());
    now_ms()
}

fn closed_passes_calls(c: &mut Checks) {
    fresh();
    let reads = BUS.reads();
    let ok = (0..5).all(|_| SENSOR.call(|| BUS.read()).is_ok());
    check!(c, ok, "5 healthy calls pass");
    check!(c, BUS.reads() - reads == 5, "each ran the peripheral");
    check!(c, SENSOR.state() == State::Closed && SENSOR.failure_count() == 0, "closed, no failures");
}

fn trips_after_threshold(c: &mut Checks) {
    fresh();
    let obs = SENSOR.observer();
    let before = obs.transitions.load(Ordering::SeqCst);
    BUS.set_healthy(false);
    for i in 1..THRESHOLD {
        let r = SENSOR.call(|| BUS.read());
        check!(
            c,
            is_inner_err(&r) && SENSOR.state() == State::Closed && SENSOR.failure_count() == i,
            "failure {i}/{THRESHOLD}: the bus error is returned, still closed with {i} failures"
        );
    }
    check!(c, obs.transitions.load(Ordering::SeqCst) == before, "no transition below the threshold");
    let r = SENSOR.call(|| BUS.read());
    check!(c, is_inner_err(&r), "failure {THRESHOLD}/{THRESHOLD}: the bus error is returned");
    check!(c, SENSOR.state() == State::Open, "open after {THRESHOLD} failures");
    let (to, trigger, count) = obs.last();
    check!(
        c,
        obs.transitions.load(Ordering::SeqCst) == before + 1
            && to == State::Open as u32
            && trigger == Trigger::FailureThreshold as u32
            && count == THRESHOLD,
        "exactly one transition logged: -> open, trigger FailureThreshold, failure_count={count}"
    );
}

fn rejects_fast_while_open(c: &mut Checks) {
    fresh();
    trip(c);
    let obs = SENSOR.observer();
    let reads = BUS.reads();
    let rejections = obs.rejections.load(Ordering::SeqCst);
    let t0 = now_ms();
    let mut all_rejected = true;
    let mut retry_ok = true;
    for _ in 0..1_000 {
        match SENSOR.call(|| BUS.read()) {
            Err(CallError::Open(open)) => {
                let ra = open.retry_after();
                retry_ok &= open.state() == State::Open
                    && open.name() == "sensor"
                    && ra.is_some_and(|d| d <= Duration::from_millis(RECOVERY_MS));
            }
            _ => all_rejected = false,
        }
    }
    let took = now_ms() - t0;
    check!(c, all_rejected, "1000 calls rejected while open");
    check!(c, BUS.reads() == reads, "none of them touched the peripheral");
    check!(c, retry_ok, "each rejection names the breaker, says open, retry_after <= {RECOVERY_MS} ms");
    check!(
        c,
        obs.rejections.load(Ordering::SeqCst) - rejections == 1_000,
        "the observer saw 1000 rejections"
    );
    check!(
        c,
        took < RECOVERY_MS,
        "1000 rejections took {took} ms of hardware clock (< the {RECOVERY_MS} ms timeout)"
    );
}

fn half_open_after_recovery_timeout(c: &mut Checks) {
    fresh();
    let t_trip = trip(c);
    let host_trip = host_ms();
    let obs = SENSOR.observer();

    check!(c, wait_until(t_trip + RECOVERY_MS / 2), "hardware clock advances");
    match SENSOR.try_acquire() {
        Err(open) => check!(
            c,
            open.retry_after().is_some_and(|d| d <= Duration::from_millis(RECOVERY_MS / 2 + 1)),
            "at +{} ms still rejected, retry_after={:?}",
            now_ms() - t_trip,
            open.retry_after()
        ),
        Ok(p) => {
            p.ignore();
            check!(c, false, "admitted before the recovery timeout");
        }
    }

    check!(c, wait_until(t_trip + RECOVERY_MS), "hardware clock advances");
    let waited = now_ms() - t_trip;
    let host_waited = host_trip.zip(host_ms()).map_or(0, |(a, b)| b - a);
    match SENSOR.try_acquire() {
        Ok(probe) => {
            check!(
                c,
                probe.is_probe() && SENSOR.state() == State::HalfOpen,
                "after {waited} ms on SysTick ({host_waited} ms on the host): one probe admitted, half-open"
            );
            let (to, trigger, _) = obs.last();
            let open_for = obs.last_open_for_ms.load(Ordering::SeqCst);
            check!(
                c,
                to == State::HalfOpen as u32
                    && trigger == Trigger::RecoveryTimeout as u32
                    && u64::from(open_for) >= RECOVERY_MS,
                "transition -> half_open by RecoveryTimeout, open for {open_for} ms"
            );
            let second = SENSOR.call(|| BUS.read());
            check!(c, is_open_err(&second), "a second call is rejected while the probe is out");
            // The peripheral still fails: the probe's failure reopens the circuit.
            let r = BUS.read();
            if r.is_ok() {
                probe.success();
            } else {
                probe.failure();
            }
            let (to, trigger, _) = obs.last();
            check!(
                c,
                SENSOR.state() == State::Open
                    && to == State::Open as u32
                    && trigger == Trigger::ProbeFailed as u32,
                "the failed probe reopens the circuit (ProbeFailed)"
            );
            check!(c, is_open_err(&SENSOR.call(|| BUS.read())), "and calls are rejected again");
        }
        Err(open) => check!(c, false, "no probe after {waited} ms: {open}"),
    }
}

fn recovers_after_successful_probe(c: &mut Checks) {
    fresh();
    let t_trip = trip(c);
    let obs = SENSOR.observer();
    BUS.set_healthy(true);
    check!(c, wait_until(t_trip + RECOVERY_MS), "hardware clock advances");
    let reads = BUS.reads();
    let r = SENSOR.call(|| BUS.read());
    check!(c, r.is_ok(), "the probe call runs and succeeds: {r:?}");
    check!(c, BUS.reads() == reads + 1, "the probe touched the peripheral once");
    let (to, trigger, _) = obs.last();
    check!(
        c,
        SENSOR.state() == State::Closed
            && to == State::Closed as u32
            && trigger == Trigger::ProbeSucceeded as u32,
        "closed again (ProbeSucceeded)"
    );
    let ok = (0..5).all(|_| SENSOR.call(|| BUS.read()).is_ok());
    check!(c, ok && SENSOR.failure_count() == 0, "normal service: 5 calls pass");
}

fn force_open_and_reset(c: &mut Checks) {
    fresh();
    BUS.set_healthy(false);
    let _ = SENSOR.call(|| BUS.read());
    let _ = SENSOR.call(|| BUS.read());
    check!(c, SENSOR.failure_count() == 2, "2 pending failures");
    BUS.set_healthy(true);

    SENSOR.force_open();
    check!(c, SENSOR.state() == State::ForcedOpen, "force_open: state={}", SENSOR.state());
    let reads = BUS.reads();
    let t0 = now_ms();
    match SENSOR.call(|| BUS.read()) {
        Err(CallError::Open(open)) => {
            check!(c, open.state() == State::ForcedOpen && open.retry_after().is_none(), "rejected: {open}")
        }
        other => check!(c, false, "not rejected: {other:?}"),
    }
    check!(c, wait_until(t0 + RECOVERY_MS + 10), "hardware clock advances");
    check!(
        c,
        is_open_err(&SENSOR.call(|| BUS.read())) && SENSOR.state() == State::ForcedOpen,
        "still rejected after the recovery timeout: forced open has no timeout"
    );
    check!(c, BUS.reads() == reads, "no call reached the peripheral");

    SENSOR.reset();
    check!(
        c,
        SENSOR.state() == State::Closed && SENSOR.failure_count() == 0,
        "reset: closed, failures cleared"
    );
    check!(c, SENSOR.call(|| BUS.read()).is_ok(), "calls pass again");

    SENSOR.force_closed();
    BUS.set_healthy(false);
    let fails = (0..2 * THRESHOLD).all(|_| is_inner_err(&SENSOR.call(|| BUS.read())));
    check!(
        c,
        fails && SENSOR.state() == State::ForcedClosed,
        "disabled (forced closed): {} failures pass through uncounted",
        2 * THRESHOLD
    );
    SENSOR.reset();
    check!(c, SENSOR.state() == State::Closed, "reset: closed");
}

fn interrupt_records_outcomes(c: &mut Checks) {
    fresh();
    let obs = SENSOR.observer();
    let in_isr = obs.outcomes_in_handler.load(Ordering::SeqCst);
    let tr_isr = obs.transitions_in_handler.load(Ordering::SeqCst);
    BUS.set_healthy(false);

    let (ran, rejected) = calls_from_interrupt(THRESHOLD - 1);
    check!(c, ran == THRESHOLD - 1 && rejected == 0, "PendSV made {ran} calls through the shared breaker");
    check!(
        c,
        SENSOR.failure_count() == THRESHOLD - 1 && SENSOR.state() == State::Closed,
        "its failures landed: failure_count={} seen from main",
        SENSOR.failure_count()
    );
    check!(
        c,
        obs.outcomes_in_handler.load(Ordering::SeqCst) - in_isr == THRESHOLD - 1,
        "the observer saw {} outcomes reported in handler mode",
        THRESHOLD - 1
    );

    let (ran, _) = calls_from_interrupt(1);
    check!(
        c,
        ran == 1 && SENSOR.state() == State::Open,
        "one more failure in PendSV trips it: state={}",
        SENSOR.state()
    );
    check!(
        c,
        obs.transitions_in_handler.load(Ordering::SeqCst) - tr_isr == 1,
        "the trip was made (and logged) by the interrupt handler"
    );
    check!(c, is_open_err(&SENSOR.call(|| BUS.read())), "main is rejected");
    let (ran, rejected) = calls_from_interrupt(2);
    check!(c, ran == 0 && rejected == 2, "PendSV is rejected too");

    // Mixed: main fails once, the handler fails once, main's third failure trips.
    fresh();
    BUS.set_healthy(false);
    let _ = SENSOR.call(|| BUS.read());
    calls_from_interrupt(1);
    check!(c, SENSOR.failure_count() == 2, "main + interrupt failures add up: 2");
    let _ = SENSOR.call(|| BUS.read());
    check!(c, SENSOR.state() == State::Open, "main's failure completes the trip");
}

fn stale_permit_after_interrupt_trip(c: &mut Checks) {
    fresh();
    BUS.set_healthy(false);
    for _ in 0..THRESHOLD - 1 {
        let _ = SENSOR.call(|| BUS.read());
    }
    let permit = match SENSOR.try_acquire() {
        Ok(p) => p,
        Err(open) => {
            check!(c, false, "no permit: {open}");
            return;
        }
    };
    // While main holds a permit, the interrupt handler's failure trips the breaker...
    calls_from_interrupt(1);
    check!(c, SENSOR.state() == State::Open, "PendSV tripped it while main held a permit");
    // ...and main's late success belongs to the closed cycle that ended: it must not close it.
    permit.success();
    check!(c, SENSOR.state() == State::Open, "main's stale success is ignored: state={}", SENSOR.state());
}

fn no_lost_updates_under_preemption(c: &mut Checks) {
    STRESS.reset();
    STRESS_ISR.store(0, Ordering::SeqCst);
    STRESS_ON.store(true, Ordering::SeqCst);
    let t0 = now_ms();
    let mut main_count: u32 = 0;
    // Main records failures as fast as it can while SysTick records one per millisecond.
    while STRESS_ISR.load(Ordering::SeqCst) < 20 && main_count < 60_000 && now_ms() - t0 < 1_000 {
        let _ = STRESS.call(|| Err::<(), ()>(()));
        main_count += 1;
    }
    STRESS_ON.store(false, Ordering::SeqCst);
    let isr_count = STRESS_ISR.load(Ordering::SeqCst);
    let total = STRESS.failure_count();
    check!(c, isr_count >= 5, "SysTick preempted the main loop and recorded {isr_count} failures");
    check!(
        c,
        total == main_count + isr_count && STRESS.state() == State::Closed,
        "no lost update: failure_count={total} = main {main_count} + SysTick {isr_count}"
    );
}

fn hardware_clock_tracks_host_time(c: &mut Checks) {
    let (Some(h0), t0) = (host_ms(), now_ms()) else {
        log!("    skip host clock (SYS_ELAPSED) unavailable");
        return;
    };
    check!(c, wait_until(t0 + 100), "hardware clock advances");
    let (h1, t1) = (host_ms().unwrap_or(h0), now_ms());
    let (hw, host) = (t1 - t0, h1 - h0);
    // SysTick runs on qemu's virtual clock, which follows the host's: the hardware clock must
    // never run ahead of real time (a recovery timeout never ends early in wall-clock terms).
    check!(c, hw <= host + 5, "SysTick measured {hw} ms while the host measured {host} ms");
}

// ---------------------------------------------------------------------------------------------
// Async calls: the core's `call_async` on a poll-loop executor (no embassy, no allocation).
// ---------------------------------------------------------------------------------------------

/// A timer future on the SysTick clock: ready once the hardware clock reads `until`.
struct Sleep {
    until: u64,
}

fn sleep_ms(ms: u64) -> Sleep {
    Sleep { until: now_ms() + ms }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if now_ms() >= self.until {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The executor: polls `future` until it is ready, sleeping (`wfi`) between polls until the
/// next interrupt (SysTick fires every millisecond, so nothing needs a real waker).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        cortex_m::asm::wfi();
    }
}

/// [`block_on`] with a deadline on the SysTick clock: `None` if `timeout_ms` passed first, in
/// which case the call is given up (`CallAsync::time_out`: it counts as timed out) and dropped.
fn block_on_timeout<B, F, K, T, E>(
    call: CallAsync<'_, B, F, K>,
    timeout_ms: u64,
) -> Option<Result<T, CallError<E>>>
where
    B: AsBreaker,
    F: Future<Output = Result<T, E>>,
    K: Classify<T, E>,
{
    let deadline = now_ms() + timeout_ms;
    let mut call = pin!(call);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = call.as_mut().poll(&mut cx) {
            return Some(v);
        }
        if now_ms() >= deadline {
            call.as_mut().time_out(Duration::from_millis(timeout_ms));
            return None;
        }
        cortex_m::asm::wfi();
    }
}

/// A bus transaction that takes `ms` of hardware time.
async fn slow_read(ms: u64) -> Result<u16, BusError> {
    sleep_ms(ms).await;
    BUS.read()
}

fn async_calls(c: &mut Checks) {
    fresh();
    let reads = BUS.reads();
    let r = block_on(call_async(&SENSOR, slow_read(3)));
    check!(c, r.is_ok() && BUS.reads() == reads + 1, "an async read through the breaker: {r:?}");
    BUS.set_healthy(false);
    for i in 1..=THRESHOLD {
        let r = block_on(call_async(&SENSOR, slow_read(2)));
        check!(c, r == Err(CallError::Inner(BusError::Nack)), "async failure {i}/{THRESHOLD}: {r:?}");
    }
    check!(c, SENSOR.state() == State::Open, "open after {THRESHOLD} async failures");
    let polled = AtomicBool::new(false);
    let r = block_on(call_async(&SENSOR, async {
        polled.store(true, Ordering::SeqCst);
        BUS.read()
    }));
    check!(c, is_open_err(&r), "rejected while open");
    check!(c, !polled.load(Ordering::SeqCst), "the rejected call's future was never polled");
    // A classifier: a NACK is the bus's own business here, neither a success nor a failure.
    fresh();
    BUS.set_healthy(false);
    let nack_is_neutral =
        |r: &Result<u16, BusError>| if r.is_ok() { Verdict::Success } else { Verdict::Ignore };
    let r = block_on(call_async(&SENSOR, slow_read(1)).classify(nack_is_neutral));
    check!(c, is_inner_err(&r) && SENSOR.failure_count() == 0, "a classified NACK does not count");
}

fn async_dropped_probe(c: &mut Checks) {
    fresh();
    let opened = trip(c);
    check!(c, wait_until(opened + RECOVERY_MS), "hardware clock advances");
    BUS.set_healthy(true);
    let reads = BUS.reads();
    {
        let mut probe = pin!(call_async(&SENSOR, slow_read(10_000)));
        let mut cx = Context::from_waker(Waker::noop());
        let pending = (0..3).all(|_| probe.as_mut().poll(&mut cx).is_pending());
        check!(c, pending && probe.is_admitted(), "the async probe is admitted and pending");
        check!(c, SENSOR.state() == State::HalfOpen, "half-open while it runs");
        check!(c, SENSOR.try_acquire().is_err(), "a second call is rejected: the probe slot is taken");
    } // dropped before it finished: neither a success nor a failure
    check!(c, BUS.reads() == reads, "the dropped probe never reached the bus");
    check!(c, SENSOR.state() == State::HalfOpen, "dropping it decided nothing: still half-open");
    let r = block_on(call_async(&SENSOR, slow_read(1)));
    check!(c, r.is_ok(), "its slot came back: the next call is the probe ({r:?})");
    check!(c, SENSOR.state() == State::Closed, "and its success closes the circuit");
}

fn async_timeouts(c: &mut Checks) {
    fresh();
    let reads = BUS.reads();
    let started = now_ms();
    let r = block_on_timeout(call_async(&SENSOR, slow_read(10_000)), 20);
    let took = now_ms() - started;
    check!(
        c,
        r.is_none() && (20..=30).contains(&took),
        "a hung read times out after {took} ms (deadline 20 ms)"
    );
    check!(c, SENSOR.failure_count() == 1, "the timeout counts as a failure: failure_count=1");
    check!(c, BUS.reads() == reads, "the timed-out read was dropped before it reached the bus");
    for _ in 1..THRESHOLD {
        let _ = block_on_timeout(call_async(&SENSOR, slow_read(10_000)), 5);
    }
    let (to, trigger, count) = SENSOR.observer().last();
    check!(
        c,
        SENSOR.state() == State::Open
            && (to, trigger) == (State::Open as u32, Trigger::FailureThreshold as u32),
        "{THRESHOLD} timeouts trip it: state={}, failure_count={count}",
        SENSOR.state()
    );
    let fast = block_on_timeout(call_async(&SENSOR, slow_read(10_000)), 20);
    check!(c, matches!(fast, Some(Err(CallError::Open(_)))), "then rejected at once, before the deadline");
}

// ---------------------------------------------------------------------------------------------
// A breaker that survives a reset: its `SavedState` in RAM that the startup code does not touch
// (`.uninit`, NOLOAD), sealed with a magic word and a checksum, across `SCB::sys_reset`.
// ---------------------------------------------------------------------------------------------

/// A record in no-init RAM: `[magic, payload.., checksum]`. Plain words (any bit pattern is a
/// valid `u32`), so reading whatever the RAM held at power-up is sound; the magic and the
/// checksum tell a record this firmware wrote from garbage.
struct Retained<const N: usize> {
    words: [PlainAtomicU32; N],
}

impl<const N: usize> Retained<N> {
    const fn new() -> Self {
        Retained { words: [const { PlainAtomicU32::new(0) }; N] }
    }

    /// Writes `payload` (N − 2 words) under `magic`.
    fn seal(&self, magic: u32, payload: &[u32]) {
        let (head, rest) = self.words.split_first().expect("N >= 2");
        let (sum, body) = rest.split_last().expect("N >= 2");
        for (w, &v) in body.iter().zip(payload) {
            w.store(v, Ordering::SeqCst);
        }
        head.store(magic, Ordering::SeqCst);
        sum.store(checksum(magic, payload), Ordering::SeqCst);
    }

    /// The payload, if the record holds `magic` and a matching checksum.
    fn unseal(&self, magic: u32, payload: &mut [u32]) -> Result<(), Unsealed> {
        let (head, rest) = self.words.split_first().expect("N >= 2");
        let (sum, body) = rest.split_last().expect("N >= 2");
        if head.load(Ordering::SeqCst) != magic {
            return Err(Unsealed::Absent);
        }
        for (v, w) in payload.iter_mut().zip(body) {
            *v = w.load(Ordering::SeqCst);
        }
        if sum.load(Ordering::SeqCst) != checksum(magic, payload) {
            return Err(Unsealed::Corrupt);
        }
        Ok(())
    }

    /// Forgets the record (so a later reset does not restore it again).
    fn clear(&self) {
        self.words[0].store(0, Ordering::SeqCst);
    }

    /// Flips one bit of payload word `i` without resealing: a record damaged in RAM.
    fn damage(&self, i: usize) {
        let w = &self.words[1 + i];
        w.store(w.load(Ordering::SeqCst) ^ 1 << 7, Ordering::SeqCst);
    }
}

/// Why a retained record was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsealed {
    /// No record: a cold boot (or one cleared after use).
    Absent,
    /// The magic is there, the checksum does not match: damaged.
    Corrupt,
}

/// FNV-1a (32-bit) over the magic and the payload words, little-endian.
fn checksum(magic: u32, payload: &[u32]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for w in core::iter::once(&magic).chain(payload) {
        for b in w.to_le_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

const SNAPSHOT_MAGIC: u32 = 0x534e_4150; // "SNAP"
const SNAPSHOT_WORDS: usize = SavedState::BYTES / 4;
/// The breaker's snapshot: `SavedState::to_bytes` (24 bytes, with its own magic, version and
/// CRC-32) as six words, sealed.
#[link_section = ".uninit.breaker_snapshot"]
static SNAPSHOT: Retained<{ SNAPSHOT_WORDS + 2 }> = Retained::new();

const HARNESS_MAGIC: u32 = 0x4841_524e; // "HARN"
/// The test run's own progress across resets: `[boot phase, scenarios passed, failed]`.
#[link_section = ".uninit.breaker_harness"]
static HARNESS: Retained<5> = Retained::new();

/// After the first reset: a snapshot of an open breaker must come back.
const PHASE_RESTORE: u32 = 1;
/// After the second reset: the snapshot was damaged, a fresh breaker must start.
const PHASE_CORRUPT: u32 = 2;

const MODEM_RECOVERY_MS: u64 = 300;
/// How long the modem's breaker has been open when the snapshot is taken.
const OPEN_BEFORE_RESET_MS: u64 = 100;

const MODEM_CONFIG: ValidConfig = match Config::new()
    .failure_threshold(2)
    .recovery_timeout(Duration::from_millis(MODEM_RECOVERY_MS))
    .validate()
{
    Ok(c) => c,
    Err(_) => panic!("invalid modem config"),
};

/// The breaker that survives resets.
static MODEM: Breaker<HwClock> = Breaker::new("modem", MODEM_CONFIG, EmbeddedTimeClock::new(SysTickClock));

/// What the boot found in the snapshot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boot {
    /// A valid snapshot, restored into `MODEM`.
    Restored(SavedState),
    /// No snapshot, or a damaged record: `MODEM` starts fresh.
    Fresh(Unsealed),
    /// The record was intact but its bytes are not a saved state (`SavedState::from_bytes`), or
    /// not one this breaker could have produced (`restore`): `MODEM` starts fresh.
    Rejected(RestoreError),
}

/// Saves `MODEM` into the no-init record.
fn save_modem() -> SavedState {
    let saved = MODEM.save();
    let bytes = saved.to_bytes();
    let mut words = [0u32; SNAPSHOT_WORDS];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    SNAPSHOT.seal(SNAPSHOT_MAGIC, &words);
    saved
}

/// At boot: restores `MODEM` from the record if it holds a valid snapshot, then clears it.
fn restore_modem() -> Boot {
    let mut words = [0u32; SNAPSHOT_WORDS];
    let found = SNAPSHOT.unseal(SNAPSHOT_MAGIC, &mut words);
    SNAPSHOT.clear();
    if let Err(why) = found {
        return Boot::Fresh(why);
    }
    let mut bytes = [0u8; SavedState::BYTES];
    for (chunk, w) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    let saved = match SavedState::from_bytes(&bytes) {
        Ok(saved) => saved,
        Err(e) => return Boot::Rejected(e),
    };
    match MODEM.restore(&saved) {
        Ok(()) => Boot::Restored(saved),
        Err(e) => Boot::Rejected(e),
    }
}

/// The modem's transaction: it fails until `MODEM_UP` is set.
static MODEM_UP: AtomicBool = AtomicBool::new(false);
static MODEM_CALLS: AtomicU32 = AtomicU32::new(0);

fn modem_call() -> Result<(), &'static str> {
    MODEM_CALLS.fetch_add(1, Ordering::SeqCst);
    if MODEM_UP.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err("no carrier")
    }
}

/// Boot 1 (cold): there was no snapshot, so the modem's breaker started fresh.
fn cold_boot_starts_fresh(c: &mut Checks, boot: Boot) {
    check!(c, boot == Boot::Fresh(Unsealed::Absent), "cold boot: no snapshot in no-init RAM ({boot:?})");
    check!(
        c,
        MODEM.state() == State::Closed && MODEM.failure_count() == 0,
        "a fresh breaker: closed, 0 failures"
    );
}

/// Boot 1, last: trip the modem's breaker, let it be open for a while, save, reset.
fn trip_save_and_reset(c: &mut Checks) -> SavedState {
    for _ in 0..2 {
        let _ = MODEM.call(modem_call);
    }
    let opened = MODEM.clock().now().as_millis();
    check!(c, MODEM.state() == State::Open, "the modem's breaker trips: state=open");
    check!(c, wait_until(opened + OPEN_BEFORE_RESET_MS), "hardware clock advances");
    let saved = save_modem();
    let left = saved.retry_after().unwrap_or_default().as_millis() as u64;
    let expect = MODEM_RECOVERY_MS - OPEN_BEFORE_RESET_MS;
    check!(
        c,
        saved.state() == State::Open && left <= expect && left + 5 >= expect,
        "saved after {OPEN_BEFORE_RESET_MS} ms open: {:?}, {left} ms left of {MODEM_RECOVERY_MS}",
        saved.state()
    );
    saved
}

/// Boot 2: the snapshot came back; the breaker is open with the time that was left, rejects,
/// and probes once that time has passed.
fn restored_after_reset(c: &mut Checks, boot: Boot) {
    let Boot::Restored(saved) = boot else {
        check!(c, false, "after SCB::sys_reset: a snapshot restored ({boot:?})");
        return;
    };
    let left = saved.retry_after().unwrap_or_default();
    check!(
        c,
        true,
        "after SCB::sys_reset: snapshot found, checksum ok, restored ({:?}, {} ms left)",
        saved.state(),
        left.as_millis()
    );
    check!(c, MODEM.state() == State::Open, "the breaker is OPEN after the reset");
    let calls = MODEM_CALLS.load(Ordering::SeqCst);
    let r = MODEM.call(modem_call);
    let retry = match &r {
        Err(CallError::Open(open)) => open.retry_after(),
        _ => None,
    };
    check!(
        c,
        retry.is_some_and(|d| d <= left && d + Duration::from_millis(10) >= left),
        "a call is rejected, retry_after={retry:?} (the {} ms left at the save)",
        left.as_millis()
    );
    check!(c, MODEM_CALLS.load(Ordering::SeqCst) == calls, "the rejected call never reached the modem");
    let restored_at = MODEM.clock().now().as_millis();
    check!(c, wait_until(restored_at + left.as_millis() as u64), "hardware clock advances");
    MODEM_UP.store(true, Ordering::SeqCst);
    check!(c, MODEM.call(modem_call).is_ok(), "once that time passed, the probe goes through");
    check!(c, MODEM.state() == State::Closed, "and closes the circuit");
}

/// Boot 2, last: trip again, save, damage the record in RAM, reset.
fn damage_and_reset(c: &mut Checks) {
    MODEM_UP.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        let _ = MODEM.call(modem_call);
    }
    check!(c, MODEM.state() == State::Open, "tripped again: state=open");
    let _ = save_modem();
    SNAPSHOT.damage(2);
    let mut words = [0u32; SNAPSHOT_WORDS];
    check!(
        c,
        SNAPSHOT.unseal(SNAPSHOT_MAGIC, &mut words) == Err(Unsealed::Corrupt),
        "snapshot saved, then one bit flipped in RAM"
    );
}

/// Boot 3: the damaged record was refused; the breaker started fresh. And an intact record whose
/// saved state is damaged (resealed over a flipped byte) is refused by the state's own CRC.
fn corrupt_snapshot_starts_fresh(c: &mut Checks, boot: Boot) {
    check!(
        c,
        boot == Boot::Fresh(Unsealed::Corrupt),
        "after SCB::sys_reset: the damaged snapshot is refused ({boot:?})"
    );
    check!(
        c,
        MODEM.state() == State::Closed && MODEM.failure_count() == 0,
        "a fresh breaker: closed, 0 failures"
    );
    MODEM_UP.store(true, Ordering::SeqCst);
    check!(c, MODEM.call(modem_call).is_ok(), "calls pass");

    MODEM.force_open();
    let mut bytes = MODEM.save().to_bytes();
    MODEM.reset();
    bytes[4] ^= 0x01; // the state byte, under a valid record checksum
    let mut words = [0u32; SNAPSHOT_WORDS];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    SNAPSHOT.seal(SNAPSHOT_MAGIC, &words);
    let boot = restore_modem();
    check!(
        c,
        matches!(boot, Boot::Rejected(RestoreError::Corrupt)),
        "an intact record over a damaged state: {boot:?}"
    );
    check!(c, MODEM.state() == State::Closed, "still the fresh breaker (not forced open)");
}

// ---------------------------------------------------------------------------------------------
// Entry, faults and panics.
// ---------------------------------------------------------------------------------------------

type Scenario = (&'static str, fn(&mut Checks));

const SCENARIOS: [Scenario; 13] = [
    ("closed: calls pass", closed_passes_calls),
    ("trip after the threshold", trips_after_threshold),
    ("fast rejection while open", rejects_fast_while_open),
    ("half-open after the recovery timeout (hardware clock)", half_open_after_recovery_timeout),
    ("recovery: a successful probe closes", recovers_after_successful_probe),
    ("manual: force_open, disable, reset", force_open_and_reset),
    ("an interrupt handler records outcomes on the same static breaker", interrupt_records_outcomes),
    ("a permit held across an interrupt's trip is stale", stale_permit_after_interrupt_trip),
    ("no lost update when SysTick preempts the main loop's CAS", no_lost_updates_under_preemption),
    ("SysTick clock vs host wall clock", hardware_clock_tracks_host_time),
    ("async: call_async on a poll-loop executor (success, trip, rejection, classifier)", async_calls),
    ("async: a dropped probe future gives its slot back", async_dropped_probe),
    ("async: a timeout counts as a failure", async_timeouts),
];

/// Runs one scenario, printing it and its verdict; counts it in `tally` (passed, failed).
fn run_scenario(tally: &mut (u32, u32), name: &str, scenario: impl FnOnce(&mut Checks)) {
    log!("scenario: {name}");
    let mut checks = Checks { failed: 0 };
    scenario(&mut checks);
    if checks.failed == 0 {
        tally.0 += 1;
        log!("  -> pass");
    } else {
        tally.1 += 1;
        log!("  -> FAIL ({} checks failed)", checks.failed);
    }
}

/// Seals the run's progress into no-init RAM and resets the MCU.
fn reset_into(phase: u32, tally: (u32, u32)) -> ! {
    HARNESS.seal(HARNESS_MAGIC, &[phase, tally.0, tally.1]);
    log!("  SCB::sys_reset (phase {phase} next; {} passed, {} failed so far)", tally.0, tally.1);
    SCB::sys_reset()
}

#[entry]
fn main() -> ! {
    let variant = if cfg!(feature = "v6m") {
        "thumbv6m-none-eabi: CAS through the application's critical section"
    } else {
        "thumbv7m-none-eabi: native LDREX/STREX"
    };
    log!("breaker firmware on an emulated LM3S6965 (Cortex-M3)");
    log!("  build: {variant}; word layout {}", breaker_core::limits::WORD_LAYOUT);
    log!(
        "  RAM: size_of Breaker<EmbeddedTimeClock<SysTickClock>, SeedLog> = {} B, Breaker<EmbeddedTimeClock<SysTickClock>> = {} B, Breaker<zero-sized clock> = {} B",
        core::mem::size_of::<Breaker<HwClock, SeedLog>>(),
        core::mem::size_of::<Breaker<HwClock>>(),
        core::mem::size_of::<Breaker<()>>(),
    );

    let Some(mut cp) = cortex_m::Peripherals::take() else {
        log!("FAIL: core peripherals already taken");
        finish(false);
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(SYSCLK_HZ / 1_000 - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();
    cp.SYST.enable_interrupt();
    log!(
        "  clock: SysTick at {} Hz core clock, reload {} -> 1 kHz, through EmbeddedTimeClock",
        SYSCLK_HZ,
        SYSCLK_HZ / 1_000 - 1
    );

    // The modem's breaker comes back from no-init RAM first, before anything else runs.
    let boot = restore_modem();
    let mut progress = [0u32; 3];
    let phase = match HARNESS.unseal(HARNESS_MAGIC, &mut progress) {
        Ok(()) => progress[0],
        Err(_) => 0,
    };
    HARNESS.clear();
    let mut tally = (progress[1], progress[2]);
    match phase {
        0 => {
            log!("boot 1 (cold)");
            for (name, scenario) in SCENARIOS {
                run_scenario(&mut tally, name, scenario);
            }
            log!(
                "hardware clock: {} ms; transitions logged: {}",
                now_ms(),
                SENSOR.observer().transitions.load(Ordering::SeqCst)
            );
            run_scenario(&mut tally, "reset survival: a cold boot starts a fresh breaker", |c| {
                cold_boot_starts_fresh(c, boot)
            });
            run_scenario(&mut tally, "reset survival: trip, save to no-init RAM, reset", |c| {
                let _ = trip_save_and_reset(c);
            });
            reset_into(PHASE_RESTORE, tally);
        }
        PHASE_RESTORE => {
            log!("boot 2 (after SCB::sys_reset)");
            run_scenario(
                &mut tally,
                "reset survival: OPEN after the reset, with the time left, and rejects",
                |c| restored_after_reset(c, boot),
            );
            run_scenario(
                &mut tally,
                "corrupt snapshot: trip, save, damage the record, reset",
                damage_and_reset,
            );
            reset_into(PHASE_CORRUPT, tally);
        }
        PHASE_CORRUPT => {
            log!("boot 3 (after SCB::sys_reset)");
            run_scenario(&mut tally, "corrupt snapshot: a fresh breaker after the reset", |c| {
                corrupt_snapshot_starts_fresh(c, boot)
            });
        }
        other => {
            log!("FAIL: unknown boot phase {other} in no-init RAM");
            tally.1 += 1;
        }
    }
    let (passed, failed) = tally;
    log!("firmware: {passed} passed, {failed} failed");
    finish(failed == 0);
}

/// Prints the verdict and leaves qemu with the matching exit status.
fn finish(pass: bool) -> ! {
    log!("{}", if pass { "PASS" } else { "FAIL" });
    debug::exit(if pass { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A fault fails the run instead of hanging the emulator.
// SAFETY: cortex-m-rt requires `HardFault` to be declared `unsafe fn`; it only reads the frame.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    log!("HardFault at pc={:#010x}", frame.pc());
    finish(false)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log!("panic: {info}");
    finish(false)
}
