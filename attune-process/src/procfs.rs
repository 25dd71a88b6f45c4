//! What /proc tells about processes: the members of a process group, this process's own
//! children, whether a process carries a run's marker in its environment.

use nix::unistd::Pid;
use std::os::unix::fs::MetadataExt;

/// The numeric entries of /proc (every process, threads excluded), ours or not.
fn all_pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
}

/// The process group of `pid` from its stat line (`None` once it is gone).
fn pgrp_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parens): state, ppid, pgrp.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(2)?.parse().ok()
}

/// The pids of the processes of group `pgid` (zombies included), from /proc.
pub(crate) fn group_members(pgid: Pid) -> Vec<Pid> {
    all_pids()
        .filter(|pid| pgrp_of(*pid) == Some(pgid.as_raw()))
        .map(Pid::from_raw)
        .collect()
}

/// The children of this process, over all its threads (a child belongs to the thread that
/// forked it, an orphan handed to us to whichever thread the kernel chose). `None` when the
/// kernel does not offer `/proc/<pid>/task/<tid>/children`.
pub(crate) fn own_children() -> Option<Vec<Pid>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut out = Vec::new();
    for task in tasks.filter_map(|e| e.ok()) {
        let mut path = task.path();
        path.push("children");
        match std::fs::read_to_string(&path) {
            Ok(list) => out.extend(
                list.split_ascii_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw),
            ),
            // A thread that ended since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && task.path().exists() => {
                return None;
            }
            Err(_) => {}
        }
    }
    Some(out)
}

/// Whether the environment block `environ` (NUL-separated `KEY=value` entries) holds the
/// entry `entry` exactly.
pub(crate) fn environ_has(environ: &[u8], entry: &[u8]) -> bool {
    environ.split(|b| *b == 0).any(|e| e == entry)
}

/// Whether process `pid` was started with the environment entry `entry` (false when it is
/// gone, a zombie, or not readable).
pub(crate) fn has_entry(pid: Pid, entry: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| environ_has(&env, entry))
}

/// The processes of user `uid` (other than this one) started with the environment entry
/// `entry`: one pass over /proc.
pub(crate) fn with_entry(uid: u32, entry: &[u8]) -> Vec<Pid> {
    let me = std::process::id() as i32;
    all_pids()
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == uid)
                && has_entry(Pid::from_raw(*pid), entry)
        })
        .map(Pid::from_raw)
        .collect()
}

/// Whether `pid` still exists (a zombie does).
pub(crate) fn exists(pid: Pid) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_entries_match_whole() {
        let env = b"A=1\0ATTUNE_RUN_TOKEN=ab-1\0B=2\0";
        assert!(environ_has(env, b"ATTUNE_RUN_TOKEN=ab-1"));
        assert!(!environ_has(env, b"ATTUNE_RUN_TOKEN=ab-"));
        assert!(!environ_has(env, b"ATTUNE_RUN_TOKEN=ab-12"));
        assert!(environ_has(b"X=y", b"X=y"), "no trailing NUL");
    }

    #[test]
    fn this_process_is_found_by_group_and_children_are_listed() {
        let me = Pid::this();
        let pgid = nix::unistd::getpgrp();
        assert!(group_members(pgid).contains(&me));
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "read _"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let children = own_children().expect("the kernel lists children");
        drop(child.stdin.take());
        child.wait().unwrap();
        assert!(children.contains(&pid), "{children:?} lacks {pid}");
    }
}
