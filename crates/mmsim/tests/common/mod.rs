//! Helpers shared by the integration tests (each test crate uses some).
#![allow(dead_code)]

use mmsim::hotplug::Task;
use mmsim::sync::atomic::{AtomicBool, Ordering};
use mmsim::sync::{thread, Arc};
use mmsim::{Errno, Machine, MachineConfig};

/// A 512 MiB machine with `swap` bytes of swap and the default variants.
pub fn small_machine(swap: u64) -> Machine {
    Machine::boot(
        MachineConfig {
            ram: 512 << 20,
            swap,
            ..Default::default()
        },
        Default::default(),
    )
    .expect("boot")
}

/// A sysfs write from a task that is signalled after `ms` milliseconds and
/// every millisecond after that until the write returns (an offline may loop
/// forever on a page another thread holds; a signal that arrives while the
/// writer waits for device_hotplug_lock is consumed by the syscall restart,
/// as in the kernel, so one signal is not enough).
pub fn write_with_signal(m: &Machine, path: &str, value: &str, ms: u64) -> Result<(), Errno> {
    let task = Arc::new(Task::new());
    let done = Arc::new(AtomicBool::new(false));
    let timer = {
        let (task, done) = (task.clone(), done.clone());
        thread::spawn(move || {
            let mut waited = 0;
            // Acquire pairs with the Release store after the write.
            while !done.load(Ordering::Acquire) {
                if waited >= ms {
                    task.send_signal();
                }
                thread::sleep(std::time::Duration::from_millis(1));
                waited += 1;
            }
        })
    };
    let r = m.sysfs_write(path, value, &task);
    done.store(true, Ordering::Release); // pairs with the timer's Acquire
    timer.join().unwrap();
    r
}
