//! One shutdown signal for the whole broker: the server triggers it once; every
//! background task and every connection holds a [`ShutdownSignal`] and stops when it
//! fires.

use tokio::sync::watch;

/// Fires the signal (dropping it fires it too, so a failed start-up stops what it began).
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// What tasks wait on.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

pub fn channel() -> (ShutdownTrigger, ShutdownSignal) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, ShutdownSignal { rx })
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal { rx: self.tx.subscribe() }
    }
}

impl Drop for ShutdownTrigger {
    fn drop(&mut self) {
        self.fire();
    }
}

impl ShutdownSignal {
    pub fn is_fired(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once the signal fires.
    pub async fn wait(&mut self) {
        // An error means the trigger is gone, which is a shutdown too.
        let _ = self.rx.wait_for(|fired| *fired).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_once_for_every_holder() {
        let (trigger, signal) = channel();
        let mut a = signal.clone();
        let mut b = trigger.signal();
        assert!(!a.is_fired());
        trigger.fire();
        a.wait().await;
        b.wait().await;
        assert!(signal.is_fired());
    }

    #[tokio::test]
    async fn dropping_the_trigger_fires() {
        let (trigger, mut signal) = channel();
        drop(trigger);
        signal.wait().await;
    }
}
