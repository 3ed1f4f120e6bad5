//! The virtio-mem driver against the device where a scenario cannot say it:
//! a host that races the driver (NACK), /proc/kcore racing the driver's
//! unplug under both `kcore_sync` variants (reference kernel-hotplug §6.1,
//! §10 cases 52 and 58, issue 9 item 5), and a driver probing a device
//! whose memory is inaccessible.

mod common;

use mmsim::drivers::virtio::VirtioTransport;
use mmsim::drivers::virtio_mem::{DriverParams, VirtioMem};
use mmsim::hotplug::OnlineType;
use mmsim::page::{PageType, Pfn, PhysAddr, PAGE_SIZE};
use mmsim::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use mmsim::sync::{thread, Arc, Mutex};
use mmsim::variant::Variants;
use mmsim::vmm::virtio_mem::HostVirtioMem;
use mmsim::walkers::KcoreStep;
use mmsim::{Machine, MachineConfig};
use std::time::Duration;

const MIB: u64 = 1 << 20;
const DEV_ADDR: u64 = 4 << 30;

fn machine(variants: Variants) -> Arc<Machine> {
    let cfg = MachineConfig {
        auto_online: OnlineType::OnlineMovable,
        ..Default::default()
    };
    Arc::new(Machine::boot(cfg, variants).expect("boot"))
}

fn device(m: &Machine, requested: u64, inaccessible: bool) -> Arc<HostVirtioMem> {
    let params = virtio_mem::DeviceParams {
        addr: DEV_ADDR,
        region_size: 1 << 30,
        block_size: 2 * MIB,
        requested_size: requested,
        offer_unplugged_inaccessible: inaccessible,
        ..Default::default()
    };
    Arc::new(HostVirtioMem::new(m, "vm0", params).expect("device"))
}

fn probe(m: &Arc<Machine>, t: Arc<dyn VirtioTransport>) -> Arc<VirtioMem> {
    let vm = m
        .virtio_mem_probe("vm0", t, DriverParams::default())
        .expect("probe");
    m.virtio_mem_settle();
    vm
}

/// A transport that lowers `requested_size` on the host just before the
/// device sees the driver's next request: the window between the driver's
/// `config_changed` check and the device in which a PLUG gets NACK.
struct RacingHost {
    host: Arc<HostVirtioMem>,
    lower_to: Mutex<Option<u64>>,
    /// Where the response buffer is (queue base + 0x2800).
    resp: Mutex<Option<PhysAddr>>,
    nacks: AtomicU32,
}

impl VirtioTransport for RacingHost {
    fn device_features(&self, m: &Machine) -> u64 {
        self.host.device_features(m)
    }
    fn finalize_features(&self, m: &Machine, f: u64) -> mmsim::KResult<()> {
        self.host.finalize_features(m, f)
    }
    fn read_config(&self, m: &Machine, off: u64, buf: &mut [u8]) {
        self.host.read_config(m, off, buf)
    }
    fn config_generation(&self, m: &Machine) -> u32 {
        self.host.config_generation(m)
    }
    fn setup_queue(&self, m: &Machine, size: u16, desc: PhysAddr, avail: PhysAddr, used: PhysAddr) {
        *self.resp.lock() = Some(desc + 0x2800);
        self.host.setup_queue(m, size, desc, avail, used)
    }
    fn driver_ok(&self, m: &Machine, irq: Box<dyn Fn() + Send + Sync>) {
        self.host.driver_ok(m, irq)
    }
    fn reset(&self, m: &Machine) {
        self.host.reset(m)
    }
    fn notify(&self, m: &Machine) {
        if let Some(size) = self.lower_to.lock().take() {
            self.host.set_requested_size(size).expect("aligned size");
        }
        self.host.notify(m);
        let resp = self.resp.lock().expect("queue set up");
        let mut ty = [0u8; 2];
        m.physmem().read(resp, &mut ty).expect("in memory");
        if u16::from_le_bytes(ty) == 1 {
            self.nacks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// Reference §10 case 52 (virtio_mem_send_plug_request: NACK -> -EAGAIN ->
// virtio_mem_run_wq retries at once): the host lowers requested_size after
// the driver checked config_changed; the PLUG gets NACK, the driver re-reads
// the config and plugs only what is now requested, without a timer and
// without marking the device broken.
#[test]
fn nack_on_plug_retries_immediately_with_the_new_size() {
    common::model_test(|| {
        let m = machine(Variants::default());
        let host = device(&m, 0, false);
        let racing = Arc::new(RacingHost {
            host: host.clone(),
            lower_to: Mutex::new(None),
            resp: Mutex::new(None),
            nacks: AtomicU32::new(0),
        });
        let vm = probe(&m, racing.clone());
        // The host asks for 256M; while the driver plugs the first block it
        // changes its mind to 2M (below what that one request plugs).
        *racing.lower_to.lock() = Some(2 * MIB);
        host.set_requested_size(256 * MIB).unwrap();
        m.virtio_mem_settle();
        assert_eq!(racing.nacks.load(Ordering::Relaxed), 1, "one PLUG saw NACK");
        assert!(!vm.is_broken());
        assert_eq!(vm.timer_armed(), None);
        assert_eq!(vm.plugged_size(), 2 * MIB);
        assert_eq!(host.config().plugged_size, 2 * MIB);
        m.virtio_mem_shutdown();
    });
}

/// Reads the page at `pfn` through /proc/kcore and, when the reader is at
/// the copy of that page (its PageOffline check passed), runs `at_copy`.
fn kcore_read_with(m: &Machine, pfn: Pfn, mut at_copy: impl FnMut()) -> Vec<u8> {
    m.read_kcore_iter(pfn.phys(), PAGE_SIZE, |step| {
        if step == KcoreStep::Copy(pfn) {
            at_copy();
        }
    })
}

// Reference §6.1 and §10 case 58 (read_kcore_iter, page_offline_freeze vs
// virtio_mem_set_fake_offline's page_offline_begin): under kcore_sync=rwsem
// the driver cannot make a page PageOffline while a reader that checked it
// is frozen; it finishes its unplug after the reader thawed, and nothing
// touches unplugged memory.
#[test]
fn kcore_rwsem_holds_the_driver_until_the_reader_thaws() {
    common::model_test(|| {
        let m = machine(Variants::default());
        let host = device(&m, 128 * MIB, true);
        let vm = probe(&m, host.clone());
        // The driver unplugs the highest sub-block of memory32 first.
        let pfn = Pfn((DEV_ADDR + 126 * MIB) / PAGE_SIZE);
        let done = Arc::new(AtomicBool::new(false));
        let mut worker = None;
        kcore_read_with(&m, pfn, || {
            let (m2, host2, done2) = (m.clone(), host.clone(), done.clone());
            worker = Some(thread::spawn(move || {
                host2.set_requested_size(126 * MIB).unwrap();
                m2.virtio_mem_settle();
                done2.store(true, Ordering::Release);
            }));
            // Give the driver every chance to get through.
            thread::sleep(Duration::from_millis(100));
            assert!(
                !m.page(pfn).is_type(PageType::Offline),
                "PageOffline while frozen"
            );
            assert!(
                !done.load(Ordering::Acquire),
                "unplug finished while frozen"
            );
        });
        worker.expect("spawned").join().unwrap();
        assert!(m.page(pfn).is_type(PageType::Offline));
        assert_eq!(vm.plugged_size(), 126 * MIB);
        let (fatal, _) = m.physmem().take_fatal_accesses();
        assert!(fatal.is_empty(), "{fatal:?}");
        m.virtio_mem_shutdown();
    });
}

// Issue 9 item 5: under kcore_sync=none the reader does not freeze, so the
// driver can fake-offline and unplug a page between the reader's PageOffline
// check and its copy; with UNPLUGGED_INACCESSIBLE the copy is a fatal access
// (the race the rwsem closes, reachable for the race explorer).
#[test]
fn kcore_without_sync_touches_an_unplugged_block() {
    common::model_test(|| {
        let mut variants = Variants::default();
        variants.set("kcore_sync", "none").unwrap();
        let m = machine(variants);
        let host = device(&m, 128 * MIB, true);
        let vm = probe(&m, host.clone());
        let pfn = Pfn((DEV_ADDR + 126 * MIB) / PAGE_SIZE);
        m.physmem().fill(pfn.phys(), PAGE_SIZE, 0x5a).unwrap();
        let bytes = kcore_read_with(&m, pfn, || {
            host.set_requested_size(126 * MIB).unwrap();
            m.virtio_mem_settle();
            assert!(m.page(pfn).is_type(PageType::Offline));
        });
        assert_eq!(vm.plugged_size(), 126 * MIB);
        // The hypervisor discarded the block: the reader got zeros, and the
        // access is reported.
        assert!(bytes.iter().all(|&b| b == 0));
        let (fatal, _) = m.physmem().take_fatal_accesses();
        assert_eq!(fatal.len(), 1, "{fatal:?}");
        assert_eq!(fatal[0].addr, pfn.phys().0);
        assert!(!fatal[0].write);
        assert!(
            fatal[0].stack.iter().any(|f| f.contains("read_kcore_iter")),
            "{:?}",
            fatal[0].stack
        );
        m.virtio_mem_shutdown();
    });
}

// Spec D-OP-5 / V-INIT-1 from the driver's side: Linux accepts
// UNPLUGGED_INACCESSIBLE when offered (D-INIT-1), and its plug, online and
// unplug paths never touch an unplugged block — also in the kernels before
// 6.11 (memmap_init=reserved), where the driver turned the PG_reserved pages
// it kept back into PageOffline itself.
#[test]
fn driver_never_touches_unplugged_memory() {
    common::model_test(|| {
        for memmap_init in ["offline", "reserved"] {
            let mut variants = Variants::default();
            variants.set("memmap_init", memmap_init).unwrap();
            let m = machine(variants);
            let host = device(&m, 0, true);
            let vm = probe(&m, host.clone());
            assert!(vm.unplugged_inaccessible);
            for size in [200 * MIB, 256 * MIB, 130 * MIB, 0, 64 * MIB, 0] {
                host.set_requested_size(size).unwrap();
                m.virtio_mem_settle();
                assert_eq!(vm.plugged_size(), size, "{memmap_init}");
                assert_eq!(host.config().plugged_size, size);
            }
            let (fatal, more) = m.physmem().take_fatal_accesses();
            assert!(fatal.is_empty() && more == 0, "{memmap_init}: {fatal:?}");
            assert!(
                m.check_all().is_empty(),
                "{memmap_init}: {:?}",
                m.check_all()
            );
            m.virtio_mem_shutdown();
        }
    });
}
