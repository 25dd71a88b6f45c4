//! The thread that forks an owner's children.
//!
//! Linux sends the parent-death signal (`PR_SET_PDEATHSIG`) when the *thread* that forked the
//! child ends, not the process. Tokio's worker threads live as long as their runtime, but its
//! blocking-pool threads end when idle, and a worker that calls `block_in_place` hands its
//! role to another thread. So children are never forked from the caller's thread: each
//! owner has threads of its own, started at its first spawn, that do nothing but fork and
//! end when the owner is dropped (after its runs). A child's parent-death signal then fires
//! when this process dies, or when its owner is gone. There are several (one per core, 2 to
//! 8), because a fork and exec takes the forking thread a few hundred microseconds: one
//! thread would serialize every spawn of the process.

use std::sync::Mutex;
use std::sync::mpsc;
use tokio::process::{Child, Command};

struct Request {
    cmd: Command,
    runtime: tokio::runtime::Handle,
    reply: mpsc::SyncSender<std::io::Result<Child>>,
}

/// The forking threads of one owner.
#[derive(Debug, Default)]
pub(crate) struct Spawner {
    requests: Mutex<Option<mpsc::Sender<Request>>>,
}

impl Spawner {
    /// Spawns `cmd` from the owner's thread, registered with the caller's Tokio runtime.
    /// Blocks the caller for the fork and exec, as `Command::spawn` does.
    pub(crate) fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            std::io::Error::other("attune-process spawns children only within a Tokio runtime")
        })?;
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Request {
            cmd,
            runtime,
            reply,
        };
        self.sender()?
            .send(request)
            .map_err(|_| std::io::Error::other("the spawning thread is gone"))?;
        answer
            .recv()
            .map_err(|_| std::io::Error::other("the spawning thread did not answer"))?
    }

    fn sender(&self) -> std::io::Result<mpsc::Sender<Request>> {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = requests.as_ref() {
            return Ok(tx.clone());
        }
        let (tx, rx) = mpsc::channel::<Request>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        for _ in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name("attune-spawner".into())
                .spawn(move || {
                    loop {
                        // One thread waits for the next request at a time; the others wait
                        // for the lock (or are forking).
                        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(mut req) = next else { return };
                        let spawned = {
                            let _entered = req.runtime.enter();
                            req.cmd.spawn()
                        };
                        drop(req.cmd);
                        let _ = req.reply.send(spawned);
                    }
                })?;
        }
        *requests = Some(tx.clone());
        Ok(tx)
    }
}
