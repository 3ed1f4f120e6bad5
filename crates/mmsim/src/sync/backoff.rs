//! Escalating waits for loops that poll a condition.
//!
//! A kernel CPU spinning on a lock owner that runs on another CPU only needs
//! `cpu_relax()`. A model thread cannot rely on that: the host may have fewer
//! cores than there are model threads, and the thread waited for may not be
//! running at all. [`Backoff`] therefore spins a little, then yields, then
//! sleeps for growing intervals (on the std backend), and is a single yield
//! per step under shuttle, so a spinning task never starves the one it waits
//! for.

use super::backend;

/// State of one polling loop: how many times it has waited so far.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// A fresh loop, starting with the shortest wait.
    pub(crate) const fn new() -> Self {
        Self { step: 0 }
    }

    /// Waits once, a little longer than last time.
    pub(crate) fn snooze(&mut self) {
        backend::snooze(self.step);
        self.step = self.step.saturating_add(1);
    }
}
