//! The work loop (`virtio_mem_run_wq()`, reference kernel-hotplug §5.9) and
//! the driver's thread and retry timer.
//!
//! One run: UNPLUG_ALL while required; re-read the configuration if it
//! changed; clean up blocks left plugged by a failed add and retry removing
//! fully unplugged blocks; then plug or unplug the difference between
//! `requested_size` and `plugged_size` in whole units. The outcome decides
//! what comes next: 0 resets the back-off, -ENOSPC waits for a config
//! change or for memory to be onlined, -ETXTBSY/-EBUSY/-ENOMEM arm the
//! retry timer, -EAGAIN runs again at once, anything else marks the device
//! broken.
//!
//! The timer runs on model time: it is armed with an expiry, and fires only
//! when the model clock is advanced to it ([`Registry::advance_to_timer`]),
//! so a scenario decides when time passes and its output does not depend on
//! the host's speed.

use super::{Registry, VirtioMem, RETRY_TIMER_MAX_MS, RETRY_TIMER_MIN_MS};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::sync::atomic::Ordering;
use crate::sync::{thread, Arc};
use std::time::Duration;

/// How long a settle waits for a driver before it reports a hang.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

impl VirtioMem {
    /// `virtio_mem_cleanup_pending_mb()`.
    fn cleanup_pending_mb(&self, m: &Machine) -> KResult<()> {
        if self.in_sbm() {
            self.sbm_cleanup_pending_mb(m)
        } else {
            self.bbm_cleanup_pending_bb(m)
        }
    }

    /// `virtio_mem_run_wq()`.
    pub(crate) fn run_wq(&self, m: &Machine, now_ms: u64) {
        // hrtimer_cancel().
        *self.timer.lock() = None;
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        self.wq_active.store(true, Ordering::Relaxed);
        let rc = loop {
            let mut rc: KResult<()> = Ok(());
            // Start from a clean state if there are leftovers.
            if self.state.lock().unplug_all_required {
                rc = self.send_unplug_all_request(m);
            }
            if self.config_changed.swap(false, Ordering::Relaxed) {
                self.refresh_config(m);
            }
            if rc.is_ok() {
                rc = self.cleanup_pending_mb(m);
            }
            if rc.is_ok() {
                let (requested, plugged) = {
                    let st = self.state.lock();
                    (st.requested_size, st.plugged_size)
                };
                rc = if requested > plugged {
                    let diff = requested - plugged;
                    if self.in_sbm() {
                        self.sbm_plug_request(m, diff)
                    } else {
                        self.bbm_plug_request(m, diff)
                    }
                } else if requested < plugged {
                    let diff = plugged - requested;
                    if self.in_sbm() {
                        self.sbm_unplug_request(m, diff)
                    } else {
                        self.bbm_unplug_request(m, diff)
                    }
                } else {
                    Ok(())
                };
            }
            // Keep retrying to offline and remove fully unplugged blocks.
            if rc.is_ok() && self.in_sbm() && self.state.lock().sbm.have_unplugged_mb {
                rc = Err(Errno::EBUSY);
            }
            if rc != Err(Errno::EAGAIN) {
                break rc;
            }
        };
        match rc {
            Ok(()) => self
                .retry_timer_ms
                .store(RETRY_TIMER_MIN_MS, Ordering::Relaxed),
            // Cannot add more memory (alignment, limits, too much offline).
            Err(Errno::ENOSPC) => {}
            Err(Errno::ETXTBSY | Errno::EBUSY | Errno::ENOMEM) => {
                let ms = self.retry_timer_ms.load(Ordering::Relaxed);
                *self.timer.lock() = Some(now_ms + ms);
            }
            Err(e) => {
                m.log(format!(
                    "virtio_mem {}: unknown error, marking device broken: -{}",
                    self.name,
                    e.name()
                ));
                self.broken.store(true, Ordering::Relaxed);
            }
        }
        self.wq_active.store(false, Ordering::Relaxed);
    }

    /// `virtio_mem_timer_expired()`: doubles the back-off and queues the
    /// work.
    fn timer_expired(&self) {
        let ms = self.retry_timer_ms.load(Ordering::Relaxed);
        self.retry_timer_ms
            .store((ms * 2).min(RETRY_TIMER_MAX_MS), Ordering::Relaxed);
        self.retry();
    }
}

/// Starts the driver's thread.
pub(crate) fn start(m: &Arc<Machine>, vm: &Arc<VirtioMem>) {
    let (m2, vm2) = (m.clone(), vm.clone());
    let handle = thread::spawn_named(&format!("virtio_mem/{}", vm.name), move || {
        worker(&m2, &vm2);
    });
    *vm.thread.lock() = Some(handle);
}

fn worker(m: &Machine, vm: &VirtioMem) {
    let _who = crate::physmem::set_accessor(format!("the virtio_mem {} worker", vm.name));
    loop {
        {
            let w = vm.work.lock();
            let mut w = vm.work_wake.wait_while(w, |w| !w.queued && !w.stop);
            if w.stop {
                w.running = false;
                drop(w);
                vm.work_idle.notify_all();
                return;
            }
            w.queued = false;
            w.running = true;
        }
        vm.run_wq(m, m.virtio_mem().now_ms());
        {
            let mut w = vm.work.lock();
            w.running = false;
        }
        vm.work_idle.notify_all();
    }
}

/// Waits until the device's work is neither queued nor running.
pub(crate) fn wait_idle(m: &Machine, vm: &VirtioMem) {
    let w = vm.work.lock();
    if w.stop {
        return;
    }
    let mut w = w;
    while (w.queued || w.running) && !w.stop {
        let (g, timed_out) = vm.work_idle.wait_timeout(w, SETTLE_TIMEOUT);
        w = g;
        if timed_out && (w.queued || w.running) {
            drop(w);
            m.report_bug(format!(
                "virtio_mem {}: the worker did not settle within {}s",
                vm.name,
                SETTLE_TIMEOUT.as_secs()
            ));
            return;
        }
    }
}

/// Stops the driver's thread (after its current run).
pub(crate) fn stop(vm: &VirtioMem) {
    vm.removing.store(true, Ordering::Relaxed);
    // A pending offline_and_remove_memory() gives up.
    vm.task.send_signal();
    {
        let mut w = vm.work.lock();
        w.stop = true;
    }
    vm.work_wake.notify_all();
    if let Some(h) = vm.thread.lock().take() {
        let _ = h.join();
    }
}

impl Registry {
    /// Advances model time to the earliest armed retry timer of `vm` and
    /// fires it; returns the new time, or None if no timer is armed.
    pub fn advance_to_timer(&self, vm: &VirtioMem) -> Option<u64> {
        let deadline = vm.timer.lock().take()?;
        self.clock_ms.fetch_max(deadline, Ordering::Relaxed);
        vm.timer_expired();
        Some(deadline)
    }
}
