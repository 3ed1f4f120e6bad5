//! Scale: the model boots machines far larger than the host (DESIGN.md,
//! "Scale and speed"). Nothing here is timed; speed lives in benches/.

use mmsim::hotplug::{OnlineType, Task};
use mmsim::page::{PhysAddr, ZoneType};
use mmsim::{Machine, MachineConfig};

// A 64 GiB machine: DMA32 below 4 GiB, Normal above, 512 boot blocks online.
#[test]
fn boot_64g() {
    let m = Machine::boot(
        MachineConfig {
            ram: 64 << 30,
            ..Default::default()
        },
        Default::default(),
    )
    .unwrap();
    let normal = m.zone(0, ZoneType::Normal).info();
    assert_eq!(normal.present, 60 << 18);
    assert_eq!(normal.managed, 60 << 18);
    assert_eq!(m.hotplug().blocks().len(), 512);
    assert!(m.check_cheap().is_empty());
}

// A 1 TiB machine fits in the host: untouched memmap and page bytes cost
// nothing (MAP_NORESERVE), and hotplug works at its top.
#[test]
fn boot_1t_and_hotplug_above_it() {
    let m = Machine::boot(
        MachineConfig {
            ram: 1 << 40,
            max_phys: 2 << 40,
            ..Default::default()
        },
        Default::default(),
    )
    .unwrap();
    assert_eq!(m.hotplug().blocks().len(), 8192);
    let top = PhysAddr(1 << 40);
    m.add_memory(0, top, 128 << 20).unwrap();
    let blk = m.hotplug().find_block(8192).unwrap();
    m.online_memory_block(&blk, OnlineType::OnlineMovable)
        .unwrap();
    m.device_offline(&blk, &Task::new()).unwrap();
    m.remove_memory(top, 128 << 20).unwrap();
    assert!(m.check_cheap().is_empty());
}
