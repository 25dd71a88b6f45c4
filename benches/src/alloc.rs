//! The allocator `attune-bench` measures with, chosen when the process starts.
//!
//! A host that runs `cargo add attune-core` keeps its own allocator, most often the system's,
//! so the harness measures on the system allocator unless told otherwise:
//! `ATTUNE_BENCH_ALLOC=system|jemalloc|mimalloc` (unset: `system`). `attune-bench --alloc
//! system,jemalloc` runs a scenario once per allocator, each in a process of its own, and
//! every output line names the allocator that ran.
//!
//! [`Chosen`] is the `#[global_allocator]`: its first call reads the variable (with
//! `getenv`, which does not allocate) and every later call goes to the same allocator, so
//! no block is ever freed by another allocator than the one that gave it out. An unknown
//! name falls back to the system allocator and [`check`] refuses it before anything runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that names the allocator.
pub const VAR: &str = "ATTUNE_BENCH_ALLOC";

/// The allocators the harness can measure with, in the order `--alloc all` runs them.
pub const NAMES: &[&str] = &["system", "jemalloc", "mimalloc"];

const UNSET: u8 = u8::MAX;
const SYSTEM: u8 = 0;
const JEMALLOC: u8 = 1;
const MIMALLOC: u8 = 2;
/// An unknown name: served by the system allocator, refused by [`check`].
const UNKNOWN: u8 = 3;

/// The allocator this process uses, decided at its first allocation.
static DECIDED: AtomicU8 = AtomicU8::new(UNSET);

/// Reads [`VAR`] without allocating.
fn from_env() -> u8 {
    // SAFETY: getenv with a NUL-terminated name; the result is read before this function
    // returns, and the harness never changes its own environment.
    #[allow(unsafe_code)]
    let value = unsafe {
        let p = libc::getenv(c"ATTUNE_BENCH_ALLOC".as_ptr());
        if p.is_null() {
            return SYSTEM;
        }
        std::ffi::CStr::from_ptr(p).to_bytes()
    };
    match value {
        b"" | b"system" => SYSTEM,
        b"jemalloc" => JEMALLOC,
        b"mimalloc" => MIMALLOC,
        _ => UNKNOWN,
    }
}

fn decided() -> u8 {
    let d = DECIDED.load(Ordering::Acquire);
    if d != UNSET {
        return d;
    }
    let wanted = from_env();
    // The first allocation is made before any other thread exists; the exchange keeps the
    // first decision should that ever change.
    match DECIDED.compare_exchange(UNSET, wanted, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => wanted,
        Err(first) => first,
    }
}

/// The allocator the process measures with: the system's, jemalloc or mimalloc, as
/// [`VAR`] says (see the module's doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct Chosen;

// SAFETY: every call forwards to one allocator, the same one for the process's whole life
// (decided at the first call), with the caller's own arguments.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe {
            match decided() {
                JEMALLOC => tikv_jemallocator::Jemalloc.alloc(layout),
                MIMALLOC => mimalloc::MiMalloc.alloc(layout),
                _ => System.alloc(layout),
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe {
            match decided() {
                JEMALLOC => tikv_jemallocator::Jemalloc.alloc_zeroed(layout),
                MIMALLOC => mimalloc::MiMalloc.alloc_zeroed(layout),
                _ => System.alloc_zeroed(layout),
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is the one decided.
        unsafe {
            match decided() {
                JEMALLOC => tikv_jemallocator::Jemalloc.dealloc(ptr, layout),
                MIMALLOC => mimalloc::MiMalloc.dealloc(ptr, layout),
                _ => System.dealloc(ptr, layout),
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator, which is the one decided.
        unsafe {
            match decided() {
                JEMALLOC => tikv_jemallocator::Jemalloc.realloc(ptr, layout, new_size),
                MIMALLOC => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
                _ => System.realloc(ptr, layout, new_size),
            }
        }
    }
}

/// The name of the allocator in use (for the output's `allocator` field).
pub fn name() -> &'static str {
    match decided() {
        JEMALLOC => "jemalloc",
        MIMALLOC => "mimalloc",
        _ => "system",
    }
}

/// Refuses an unknown [`VAR`], naming it and the names accepted.
pub fn check() -> Result<(), String> {
    if decided() == UNKNOWN {
        let given = std::env::var(VAR).unwrap_or_default();
        return Err(format!(
            "{VAR}={given:?}: not an allocator the harness has (have: {})",
            NAMES.join(", ")
        ));
    }
    Ok(())
}

/// Parses an `--alloc` list (`system,jemalloc`, or `all`), refusing unknown names by name.
pub fn parse_list(list: &str) -> Result<Vec<&'static str>, String> {
    if list == "all" {
        return Ok(NAMES.to_vec());
    }
    list.split(',')
        .map(|n| {
            NAMES
                .iter()
                .find(|k| **k == n.trim())
                .copied()
                .ok_or_else(|| {
                    format!(
                        "--alloc: '{n}' is not an allocator the harness has (have: {}, or all)",
                        NAMES.join(", ")
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_unknown_names_are_refused_by_name() {
        assert_eq!(parse_list("all").unwrap(), NAMES.to_vec());
        assert_eq!(
            parse_list("jemalloc, system").unwrap(),
            vec!["jemalloc", "system"]
        );
        let e = parse_list("system,tcmalloc").unwrap_err();
        assert!(e.contains("'tcmalloc'"), "{e}");
    }
}
