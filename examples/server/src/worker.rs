//! This process as a worker of the store: its worker id names the process (pid, start time,
//! pid namespace, boot), so that a later `attune` on the same machine can tell that the
//! process holding an execution's lease is gone, and end the execution without waiting for
//! the lease to expire. Linux only (`/proc`); elsewhere the engine's default worker id is
//! used and leases decide.

use std::path::Path;

/// The prefix of the worker ids this program gives its engines.
const PREFIX: &str = "attune-cli";

/// A process, as far as it can be told apart from every other process of this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Process {
    /// Its pid.
    pub pid: u32,
    /// When it started, in clock ticks after boot (`/proc/PID/stat` field 22): a reused
    /// pid has another.
    start: u64,
    /// Its pid namespace (`/proc/PID/ns/pid`): pids of another namespace are not ours to
    /// look up.
    pidns: String,
    /// The boot it runs in (`/proc/sys/kernel/random/boot_id`).
    boot: String,
}

/// Whether the process of a worker id is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// It runs.
    Alive,
    /// It is gone (exited, or a zombie).
    Gone,
    /// It cannot be told from here (another machine, boot or pid namespace, or not an id of
    /// this program).
    Unknown,
}

impl Process {
    /// This process; `None` where `/proc` does not say.
    pub(crate) fn current() -> Option<Self> {
        let pid = std::process::id();
        let (_, start) = stat(pid)?;
        let pidns = std::fs::read_link("/proc/self/ns/pid")
            .ok()?
            .to_string_lossy()
            .into_owned();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()?
            .trim()
            .to_string();
        Some(Process {
            pid,
            start,
            pidns,
            boot,
        })
    }

    /// The worker id: `attune-cli pid=P start=S pidns=N boot=B`.
    pub(crate) fn worker_id(&self) -> String {
        format!(
            "{PREFIX} pid={} start={} pidns={} boot={}",
            self.pid, self.start, self.pidns, self.boot
        )
    }

    /// The process a worker id of this program names; `None` for other ids.
    pub(crate) fn parse(worker: &str) -> Option<Self> {
        let mut words = worker.split(' ');
        if words.next()? != PREFIX {
            return None;
        }
        let (mut pid, mut start, mut pidns, mut boot) = (None, None, None, None);
        for w in words {
            let (k, v) = w.split_once('=')?;
            match k {
                "pid" => pid = v.parse().ok(),
                "start" => start = v.parse().ok(),
                "pidns" => pidns = Some(v.to_string()),
                "boot" => boot = Some(v.to_string()),
                _ => {}
            }
        }
        Some(Process {
            pid: pid?,
            start: start?,
            pidns: pidns?,
            boot: boot?,
        })
    }

    /// Whether this process, as seen from `here` (the current process), is alive.
    pub(crate) fn liveness(&self, here: &Process) -> Liveness {
        if self.boot != here.boot || self.pidns != here.pidns {
            return Liveness::Unknown;
        }
        match stat(self.pid) {
            Some((state, start)) if start == self.start && state != 'Z' && state != 'X' => {
                Liveness::Alive
            }
            _ => Liveness::Gone,
        }
    }
}

/// The state letter and start time of process `pid`, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // After the command name (which may hold spaces and parens): state is field 3, start
    // time field 22.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_id_names_this_process_and_parses_back() {
        let Some(me) = Process::current() else {
            return; // no /proc here: nothing to tell apart
        };
        let id = me.worker_id();
        assert!(id.starts_with("attune-cli pid="), "{id}");
        let back = Process::parse(&id).unwrap();
        assert_eq!(back, me);
        assert_eq!(back.liveness(&me), Liveness::Alive);
    }

    #[test]
    fn a_gone_or_foreign_process_is_told_apart() {
        let Some(me) = Process::current() else {
            return;
        };
        let reused = Process {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(
            reused.liveness(&me),
            Liveness::Gone,
            "same pid, other start"
        );
        let other_boot = Process {
            boot: "another".into(),
            ..me.clone()
        };
        assert_eq!(other_boot.liveness(&me), Liveness::Unknown);
        assert_eq!(Process::parse("worker-0191"), None);
        assert_eq!(Process::parse("attune-cli pid=x"), None);
    }
}
