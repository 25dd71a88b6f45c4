//! Cross-crate integration and end-to-end tests of Attune live in `tests/`; this library
//! holds what the crash tests share: the seed, the kill timings, the child process, and the
//! line files the children append to.

use std::path::Path;

/// The seed of a crash test: `$var` when set (to replay a run), else the clock. Printed, so
/// that a failure can be replayed.
pub fn seed(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed: {seed} ({var}={seed} replays it)");
    seed
}

/// xorshift64*: small, seeded, enough to spread kill timings.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Starts this test binary again as a child running only the test `entry`, with `var` set
/// to `db` (the child's cue: without it, `entry` returns at once).
pub fn spawn_child(entry: &str, var: &str, db: &Path) -> std::process::Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    std::process::Command::new(exe)
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(var, db)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the child test process")
}

/// The non-empty lines of a file (none when it does not exist).
pub fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Appends `line` and a newline to `file` in one write with O_APPEND: each line is whole,
/// even when the process is killed right after.
pub fn append_line(file: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
}
