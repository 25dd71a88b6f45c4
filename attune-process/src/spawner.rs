//! The thread that forks an owner's children.
//!
//! Linux sends the parent-death signal (`PR_SET_PDEATHSIG`) when the *thread* that forked the
//! child ends, not the process. Tokio's worker threads live as long as their runtime, but its
//! blocking-pool threads end when idle, and a worker that calls `block_in_place` hands its
//! role to another thread. So children are never forked from the caller's thread: each
//! owner has one thread of its own, started at its first spawn, that does nothing but fork
//! and ends when the owner is dropped (after its runs). A child's parent-death signal then
//! fires when this process dies, or when its owner is gone.

use std::sync::Mutex;
use std::sync::mpsc;
use tokio::process::{Child, Command};

struct Request {
    cmd: Command,
    runtime: tokio::runtime::Handle,
    reply: mpsc::SyncSender<std::io::Result<Child>>,
}

/// The forking thread of one owner.
#[derive(Debug, Default)]
pub(crate) struct Spawner {
    requests: Mutex<Option<mpsc::Sender<Request>>>,
}

impl Spawner {
    /// Spawns `cmd` from the owner's thread, registered with the caller's Tokio runtime.
    /// Blocks the caller for the fork and exec, as `Command::spawn` does.
    pub fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
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
        std::thread::Builder::new()
            .name("attune-spawner".into())
            .spawn(move || {
                while let Ok(mut req) = rx.recv() {
                    let spawned = {
                        let _entered = req.runtime.enter();
                        req.cmd.spawn()
                    };
                    drop(req.cmd);
                    let _ = req.reply.send(spawned);
                }
            })?;
        *requests = Some(tx.clone());
        Ok(tx)
    }
}
