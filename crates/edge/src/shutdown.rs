//! Graceful shutdown in two phases. On SIGTERM the edge stops accepting and new transactions
//! are refused (draining); transactions under way may finish until the grace period ends, and
//! then every session still open is told `421` and closed (closing).

use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    Draining,
    Closing,
}

#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Phase>,
}

pub struct ShutdownTrigger {
    tx: watch::Sender<Phase>,
}

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(Phase::Running);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    pub fn set(&self, phase: Phase) {
        self.tx.send_if_modified(|p| {
            let later = phase > *p;
            if later {
                *p = phase;
            }
            later
        });
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown { rx: self.tx.subscribe() }
    }
}

impl Shutdown {
    pub fn phase(&self) -> Phase {
        *self.rx.borrow()
    }

    async fn reached(&mut self, phase: Phase) {
        // An error means the trigger is gone: the process is ending.
        let _ = self.rx.wait_for(|p| *p >= phase).await;
    }

    pub async fn draining(&mut self) {
        self.reached(Phase::Draining).await
    }

    pub async fn closing(&mut self) {
        self.reached(Phase::Closing).await
    }
}
