//! SIGINT and SIGTERM. The first asks the command to stop: a command that runs work cancels
//! it (the actions get SIGTERM and the cancel grace), prints its report and exits 130
//! (SIGINT) or 143 (SIGTERM); any other command exits at once with that code. A second
//! signal ends the process at once (the actions' process groups are killed).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Which signal stopped the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sig {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
}

impl Sig {
    /// `SIGINT` or `SIGTERM`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Sig::Int => "SIGINT",
            Sig::Term => "SIGTERM",
        }
    }

    /// The conventional exit code: 128 + the signal number (130, 143).
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Sig::Int => 130,
            Sig::Term => 143,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct State {
    first: Option<Sig>,
    twice: bool,
}

/// The signals received so far; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Interrupt {
    rx: watch::Receiver<State>,
}

impl Interrupt {
    /// Catches SIGINT and SIGTERM from now on (on the current tokio runtime). `note` is
    /// printed on stderr at the first signal, for a command that does something about it.
    pub(crate) fn install(note: Option<&'static str>) -> std::io::Result<Self> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(State::default());
        tokio::spawn(async move {
            loop {
                let sig = tokio::select! {
                    Some(()) = int.recv() => Sig::Int,
                    Some(()) = term.recv() => Sig::Term,
                    else => return,
                };
                let mut twice = false;
                tx.send_modify(|s| {
                    if s.first.is_none() {
                        s.first = Some(sig);
                    } else {
                        s.twice = true;
                        twice = true;
                    }
                });
                if twice {
                    eprintln!("attune: {} again: exiting now", sig.name());
                } else if let Some(note) = note {
                    eprintln!("attune: {}: {note}", sig.name());
                }
            }
        });
        Ok(Interrupt { rx })
    }

    /// The first signal received, if any.
    pub(crate) fn received(&self) -> Option<Sig> {
        self.rx.borrow().first
    }

    /// Waits for the first signal (returns at once if it came already).
    pub(crate) async fn first(&self) -> Sig {
        let mut rx = self.rx.clone();
        match rx.wait_for(|s| s.first.is_some()).await {
            Ok(s) => s.first.unwrap_or(Sig::Int),
            // The signal task ended: no signal will come.
            Err(_) => std::future::pending().await,
        }
    }

    /// Waits for a second signal.
    pub(crate) async fn twice(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|s| s.twice).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
