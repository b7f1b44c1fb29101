//! The outbox's queue, kept in a SQLite file so that an event the service accepted survives a
//! restart, a SIGTERM that finds the broker down, and a `kill -9`.
//!
//! Every accepted event is written to the file before the client hears `"queued"`; a delivered
//! batch is deleted from it before it leaves the queue in memory. The file is SQLite in WAL mode
//! with `synchronous=NORMAL`: a commit is in the operating system's hands when it returns, so a
//! crash of the process loses nothing (a power cut may lose the last commits; that is the trade
//! for not waiting on the disk for every event). Not PostgreSQL: that is the dependency that
//! fails.
//!
//! Delivery stays at least once: a batch the broker stored just before the process died is sent
//! again after the restart.

use std::collections::VecDeque;
use std::path::Path;

use rusqlite::{params, Connection};

use crate::events::Event;

/// The queue: events in order, their size in bytes, and the file behind them (none for a queue
/// in memory only).
pub(crate) struct Queue {
    file: Option<Connection>,
    /// Events with their row ids in the file, oldest first.
    events: VecDeque<(i64, Event)>,
    bytes: usize,
    next_row: i64,
}

impl Queue {
    /// A queue in memory only, lost at exit (`OUTBOX_PATH` empty).
    pub(crate) fn memory() -> Queue {
        Queue { file: None, events: VecDeque::new(), bytes: 0, next_row: 1 }
    }

    /// The queue in the file at `path`, created if absent, with the events left in it.
    pub(crate) fn open(path: &Path) -> Result<Queue, rusqlite::Error> {
        let file = Connection::open(path)?;
        file.pragma_update(None, "journal_mode", "WAL")?;
        file.pragma_update(None, "synchronous", "NORMAL")?;
        file.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (row INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB NOT NULL)",
        )?;
        let mut events = VecDeque::new();
        let mut bytes = 0;
        {
            let mut rows = file.prepare("SELECT row, id, body FROM outbox ORDER BY row")?;
            let loaded =
                rows.query_map([], |r| Ok((r.get::<_, i64>(0)?, Event { id: r.get(1)?, body: r.get(2)? })))?;
            for row in loaded {
                let (row, event) = row?;
                bytes += event.size();
                events.push_back((row, event));
            }
        }
        let next_row = events.back().map_or(1, |(row, _)| row + 1);
        Ok(Queue { file: Some(file), events, bytes, next_row })
    }

    /// Appends `event`, in the file first: when this returns `Ok`, the event survives a crash.
    pub(crate) fn push(&mut self, event: Event) -> Result<(), rusqlite::Error> {
        let row = self.next_row;
        if let Some(file) = &self.file {
            file.execute(
                "INSERT INTO outbox (row, id, body) VALUES (?1, ?2, ?3)",
                params![row, event.id, event.body],
            )?;
        }
        self.next_row += 1;
        self.bytes += event.size();
        self.events.push_back((row, event));
        Ok(())
    }

    /// Removes the first `n` events (delivered), from the file first. If the file refuses, the
    /// events leave the memory queue anyway and the error is returned: they were delivered, and
    /// the worst case is that a restart delivers them again.
    pub(crate) fn remove_front(&mut self, n: usize) -> Result<(), rusqlite::Error> {
        let n = n.min(self.events.len());
        let Some(last) = n.checked_sub(1).map(|i| self.events[i].0) else { return Ok(()) };
        let deleted = match &self.file {
            Some(file) => file.execute("DELETE FROM outbox WHERE row <= ?1", params![last]).map(drop),
            None => Ok(()),
        };
        for (_, event) in self.events.drain(..n) {
            self.bytes -= event.size();
        }
        deleted
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes of the queued events' ids and bodies.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The events, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().map(|(_, e)| e)
    }

    pub(crate) fn front(&self) -> Option<&Event> {
        self.events.front().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> Event {
        Event { id: format!("e{n}"), body: format!("{{\"n\":{n}}}").into_bytes() }
    }

    fn ids(q: &Queue) -> Vec<String> {
        q.iter().map(|e| e.id.clone()).collect()
    }

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("breaker-demo-outbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("outbox.sqlite3")
    }

    #[test]
    fn events_survive_a_restart_in_order_and_delivered_ones_do_not_come_back() {
        let path = temp_file("restart");
        let mut q = Queue::open(&path).unwrap();
        for n in 0..5 {
            q.push(event(n)).unwrap();
        }
        q.remove_front(2).unwrap();
        let bytes = q.bytes();
        drop(q);
        let q = Queue::open(&path).unwrap();
        assert_eq!(ids(&q), ["e2", "e3", "e4"]);
        assert_eq!(q.bytes(), bytes);
        // New events go after the old ones.
        let mut q = q;
        q.push(event(9)).unwrap();
        drop(q);
        assert_eq!(ids(&Queue::open(&path).unwrap()), ["e2", "e3", "e4", "e9"]);
    }

    /// The child half of the crash test: queues three events, then dies without unwinding,
    /// flushing or running destructors, as `kill -9` would leave it.
    #[test]
    fn queued_events_survive_a_crash() {
        if let Ok(path) = std::env::var("BREAKER_DEMO_CRASH_OUTBOX") {
            let mut q = Queue::open(Path::new(&path)).unwrap();
            for n in 0..3 {
                q.push(event(n)).unwrap();
            }
            std::process::abort();
        }
        let path = temp_file("crash");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "outbox::tests::queued_events_survive_a_crash", "--nocapture"])
            .env("BREAKER_DEMO_CRASH_OUTBOX", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the child was meant to crash");
        let q = Queue::open(&path).unwrap();
        assert_eq!(ids(&q), ["e0", "e1", "e2"], "every event queued before the crash is there");
    }

    #[test]
    fn an_unusable_file_is_an_error_not_a_panic() {
        let dir = temp_file("bad");
        std::fs::write(&dir, b"this is not a database, and it is long enough to be read as one").unwrap();
        assert!(Queue::open(&dir).is_err());
    }
}
