//! Hotplug, sysfs, kernel-side and reader commands (SCENARIOS.md, "Memory hotplug and sysfs", "Readers of /proc").

use super::*;
use crate::errno::Errno;
use crate::page::ZoneType;
use crate::script::cmd::hotplug::*;
use crate::script::cmd::kernel::*;
use crate::script::cmd::readers::*;
use crate::script::lexer::{self};
use std::time::Duration;

#[test]
fn hotplug_commands() {
    assert_eq!(
        cmd("hotplug add 0x100000000 256M node=1"),
        Cmd::Hotplug(HotplugCmd::Add {
            addr: 4 * G,
            size: 256 * M,
            node: Some(1),
        })
    );
    assert_eq!(
        cmd("hotplug add 4294967296 256M"),
        Cmd::Hotplug(HotplugCmd::Add {
            addr: 4 * G,
            size: 256 * M,
            node: None,
        })
    );
    assert_eq!(
        cmd("hotplug remove 0x100000000 128M"),
        Cmd::Hotplug(HotplugCmd::Remove {
            addr: 4 * G,
            size: 128 * M,
        })
    );
    assert_eq!(
        cmd("hotplug offline_and_remove 0x100000000 128M"),
        Cmd::Hotplug(HotplugCmd::OfflineAndRemove {
            addr: 4 * G,
            size: 128 * M,
            signal_after: None,
        })
    );
    assert_eq!(
        cmd("hotplug offline_and_remove 0x100000000 128M signal_after=20ms"),
        Cmd::Hotplug(HotplugCmd::OfflineAndRemove {
            addr: 4 * G,
            size: 128 * M,
            signal_after: Some(Duration::from_millis(20)),
        })
    );
    let line = "hotplug remove 0x100000000 128M node=1";
    assert_eq!(line_error(line).0, col(line, "node"));
    let line = "hotplug plug 0 1G";
    assert_eq!(line_error(line).0, col(line, "plug"));
    // ADDR is a number, not a size.
    let line = "hotplug add 4G 128M";
    assert_eq!(line_error(line).0, col(line, "4G"));
}

#[test]
fn sysfs_commands() {
    let state = "devices/system/memory/memory32/state".to_owned();
    assert_eq!(
        cmd("sysfs read /sys/devices/system/memory/memory32/state"),
        Cmd::Hotplug(HotplugCmd::SysfsRead {
            path: state.clone()
        })
    );
    assert_eq!(
        cmd("sysfs write devices/system/memory/memory32/state offline signal_after=20ms"),
        Cmd::Hotplug(HotplugCmd::SysfsWrite {
            path: state.clone(),
            value: b"offline".to_vec(),
            signal_after: Some(Duration::from_millis(20)),
        })
    );
    assert_eq!(
        cmd(
            r#"sysfs write devices/system/memory/memory32/state "online_movable\n" signal_after=2s"#
        ),
        Cmd::Hotplug(HotplugCmd::SysfsWrite {
            path: state,
            value: b"online_movable\n".to_vec(),
            signal_after: Some(Duration::from_secs(2)),
        })
    );
    assert_eq!(
        cmd("sysfs ls /sys/devices/system/memory/"),
        Cmd::Hotplug(HotplugCmd::SysfsLs {
            path: "devices/system/memory".to_owned(),
        })
    );
    assert_eq!(
        cmd("sysfs ls /sys"),
        Cmd::Hotplug(HotplugCmd::SysfsLs {
            path: String::new()
        })
    );
    assert_eq!(
        cmd(r#"sysfs export "/tmp/a dir""#),
        Cmd::Hotplug(HotplugCmd::SysfsExport {
            dir: "/tmp/a dir".to_owned(),
        })
    );
    for (line, needle) in [
        ("sysfs read /proc/meminfo", "/proc"),
        ("sysfs read /sysfoo", "/sysfoo"),
        ("sysfs write kernel/x 1 signal_after=5", "5"),
        (
            "sysfs write kernel/x 1 signal_after=0x1000000000000000000s",
            "0x1",
        ),
        ("sysfs write kernel/x 1 later", "later"),
        ("sysfs cat kernel/x", "cat"),
    ] {
        assert_eq!(line_error(line).0, col(line, needle), "{line}");
    }
    let line = "sysfs write kernel/x";
    assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
}

#[test]
fn sparse_and_section_commands() {
    assert_eq!(
        cmd("sparse add 0x100000000 2M node=0"),
        Cmd::Kernel(KernelCmd::SparseAdd {
            addr: 4 * G,
            size: 2 * M,
            node: Some(0),
        })
    );
    assert_eq!(
        cmd("sparse remove 0x100000000 2M"),
        Cmd::Kernel(KernelCmd::SparseRemove {
            addr: 4 * G,
            size: 2 * M,
        })
    );
    assert_eq!(
        cmd("section 32"),
        Cmd::Kernel(KernelCmd::Section {
            nr: 32,
            field: None
        })
    );
    assert_eq!(
        cmd("section 0x20 online"),
        Cmd::Kernel(KernelCmd::Section {
            nr: 32,
            field: Some("online".to_owned()),
        })
    );
    assert_eq!(
        cmd("pfn_valid 0x100000"),
        Cmd::Kernel(KernelCmd::PfnValid { pfn: 0x100000 })
    );
    assert_eq!(
        cmd("pfn_to_online_page 1048576"),
        Cmd::Kernel(KernelCmd::PfnToOnlinePage { pfn: 0x100000 })
    );
    let line = "pfn_valid 4K";
    assert_eq!(line_error(line).0, col(line, "4K"));
}

#[test]
fn page_commands() {
    assert_eq!(
        cmd("page alloc pg"),
        Cmd::Kernel(KernelCmd::PageAlloc {
            name: "pg".to_owned(),
            how: PageAlloc::Buddy {
                order: 0,
                movable: false,
                node: None,
            },
        })
    );
    assert_eq!(
        cmd("page alloc pg node=1 movable order=9"),
        Cmd::Kernel(KernelCmd::PageAlloc {
            name: "pg".to_owned(),
            how: PageAlloc::Buddy {
                order: 9,
                movable: true,
                node: Some(1),
            },
        })
    );
    assert_eq!(
        cmd("page alloc big pfn=0x8000 nr=512"),
        Cmd::Kernel(KernelCmd::PageAlloc {
            name: "big".to_owned(),
            how: PageAlloc::Contig {
                pfn: 0x8000,
                nr: 512,
            },
        })
    );
    assert_eq!(
        cmd("page alloc one pfn=0x8000"),
        Cmd::Kernel(KernelCmd::PageAlloc {
            name: "one".to_owned(),
            how: PageAlloc::Contig { pfn: 0x8000, nr: 1 },
        })
    );
    assert_eq!(
        cmd("page free pg"),
        Cmd::Kernel(KernelCmd::PageFree {
            name: "pg".to_owned()
        })
    );
    assert_eq!(
        cmd("page mark pg offline movable_ops"),
        Cmd::Kernel(KernelCmd::PageMark {
            name: "pg".to_owned(),
            marks: vec![PageMark::Offline, PageMark::MovableOps],
        })
    );
    assert_eq!(
        cmd("page mark pg reserved fake_offline table slab"),
        Cmd::Kernel(KernelCmd::PageMark {
            name: "pg".to_owned(),
            marks: vec![
                PageMark::Reserved,
                PageMark::FakeOffline,
                PageMark::Table,
                PageMark::Slab,
            ],
        })
    );
    assert_eq!(
        cmd("page get 0x1234"),
        Cmd::Kernel(KernelCmd::PageGet { pfn: 0x1234 })
    );
    assert_eq!(
        cmd("page put 0x1234"),
        Cmd::Kernel(KernelCmd::PagePut { pfn: 0x1234 })
    );
    assert_eq!(
        cmd("page show 0x1234"),
        Cmd::Kernel(KernelCmd::PageShow {
            pfn: 0x1234,
            field: None
        })
    );
    assert_eq!(
        cmd("hwpoison 0x1234"),
        Cmd::Kernel(KernelCmd::Hwpoison { pfn: 0x1234 })
    );
    for (line, needle) in [
        ("page alloc pg order=2 pfn=0x8000", "pfn="),
        ("page alloc pg pfn=0x8000 movable", "movable"),
        ("page alloc pg order=1 order=2", "order=2"),
        ("page alloc pg zone=Normal", "zone"),
        ("page mark pg offline offline", "offline offline"),
        ("page mark pg buddy", "buddy"),
        ("page alloc 1pg", "1pg"),
    ] {
        let at = if needle == "offline offline" {
            col(line, needle) + 8
        } else {
            col(line, needle)
        };
        assert_eq!(line_error(line).0, at, "{line}");
    }
    let line = "page mark pg";
    assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
    let line = "page alloc pg nr=4";
    assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
}

#[test]
fn notifier_and_online_page_callback_commands() {
    assert_eq!(
        cmd("notifier add n1"),
        Cmd::Hotplug(HotplugCmd::NotifierAdd {
            name: "n1".to_owned(),
            priority: 0,
            going_online: NotifierAction::Ok,
            going_offline: NotifierAction::Ok,
            put: None,
            range: None,
        })
    );
    assert_eq!(
        cmd("notifier add n2 going_offline=EBUSY priority=-10 going_online=bad"),
        Cmd::Hotplug(HotplugCmd::NotifierAdd {
            name: "n2".to_owned(),
            priority: -10,
            going_online: NotifierAction::Bad,
            going_offline: NotifierAction::Errno(Errno::EBUSY),
            put: None,
            range: None,
        })
    );
    assert_eq!(
        cmd("notifier add n3 put=0x10c800 priority=-1"),
        Cmd::Hotplug(HotplugCmd::NotifierAdd {
            name: "n3".to_owned(),
            priority: -1,
            going_online: NotifierAction::Ok,
            going_offline: NotifierAction::Ok,
            put: Some(0x10c800),
            range: None,
        })
    );
    assert_eq!(
        cmd("notifier add n4 range=0x108000000,128M going_online=bad"),
        Cmd::Hotplug(HotplugCmd::NotifierAdd {
            name: "n4".to_owned(),
            priority: 0,
            going_online: NotifierAction::Bad,
            going_offline: NotifierAction::Ok,
            put: None,
            range: Some((0x1_0800_0000, 128 * M)),
        })
    );
    assert_eq!(
        cmd("notifier remove n1"),
        Cmd::Hotplug(HotplugCmd::NotifierRemove {
            name: "n1".to_owned()
        })
    );
    assert_eq!(
        cmd("notifier log n1"),
        Cmd::Hotplug(HotplugCmd::NotifierLog {
            name: "n1".to_owned()
        })
    );
    assert_eq!(
        cmd("online_page_callback set vmem keep=0x100000000,2M"),
        Cmd::Hotplug(HotplugCmd::CallbackSet {
            name: "vmem".to_owned(),
            keep: Some((4 * G, 2 * M)),
        })
    );
    assert_eq!(
        cmd("online_page_callback set vmem"),
        Cmd::Hotplug(HotplugCmd::CallbackSet {
            name: "vmem".to_owned(),
            keep: None,
        })
    );
    assert_eq!(
        cmd("online_page_callback restore vmem"),
        Cmd::Hotplug(HotplugCmd::CallbackRestore {
            name: "vmem".to_owned()
        })
    );
    for (line, needle) in [
        ("notifier add n going_online=EWHAT", "EWHAT"),
        ("notifier add n going_online=busy", "busy"),
        ("notifier add n priority=0x80000000", "0x8"),
        ("notifier add n range=0x1000", "0x1000"),
        ("notifier add n range=0x1000,1M range=0,1M", "range=0,"),
        ("online_page_callback set vmem keep=0x1000", "0x1000"),
        ("online_page_callback set vmem keep=0x1000,4X", "4X"),
    ] {
        assert_eq!(line_error(line).0, col(line, needle), "{line}");
    }
}

#[test]
fn info_and_reader_commands() {
    assert_eq!(
        cmd("zoneinfo 0 Movable present"),
        Cmd::Kernel(KernelCmd::Zoneinfo {
            node: 0,
            zone: ZoneType::Movable,
            field: Some("present".to_owned()),
        })
    );
    assert_eq!(
        cmd("zoneinfo 1 DMA32"),
        Cmd::Kernel(KernelCmd::Zoneinfo {
            node: 1,
            zone: ZoneType::Dma32,
            field: None,
        })
    );
    assert_eq!(
        cmd("nodeinfo 0 MemFree"),
        Cmd::Kernel(KernelCmd::Nodeinfo {
            node: 0,
            field: Some("MemFree".to_owned()),
        })
    );
    assert_eq!(
        cmd("meminfo"),
        Cmd::Kernel(KernelCmd::Meminfo { field: None })
    );
    assert_eq!(
        cmd("meminfo Active(anon)"),
        Cmd::Kernel(KernelCmd::Meminfo {
            field: Some("Active(anon)".to_owned()),
        })
    );
    assert_eq!(
        cmd("kcore read 0x100000000 64"),
        Cmd::Reader(ReaderCmd::KcoreRead {
            addr: 4 * G,
            len: 64
        })
    );
    assert_eq!(
        cmd("kcore page 0x100000 16"),
        Cmd::Reader(ReaderCmd::KcorePage {
            pfn: 0x100000,
            off: 0,
            len: 16,
        })
    );
    assert_eq!(
        cmd("kcore page 0x100000 2K 1K"),
        Cmd::Reader(ReaderCmd::KcorePage {
            pfn: 0x100000,
            off: 2 * K,
            len: K,
        })
    );
    assert_eq!(
        cmd("kpageflags 0x10"),
        Cmd::Reader(ReaderCmd::Kpageflags { pfn: 16 })
    );
    assert_eq!(
        cmd("kpageflags dump out/kpageflags.bin"),
        Cmd::Reader(ReaderCmd::KpageflagsDump {
            file: "out/kpageflags.bin".to_owned(),
        })
    );
    assert_eq!(
        cmd("kpagecount 7"),
        Cmd::Reader(ReaderCmd::Kpagecount { pfn: 7 })
    );
    for (line, needle) in [
        ("zoneinfo 0 HighMem", "HighMem"),
        ("zoneinfo x Normal", "x"),
        ("kcore page 0x10 1 2 3", "3"),
        ("kcore write 0 1", "write"),
        ("kpagecount 0x10 0x11", "0x11"),
    ] {
        assert_eq!(line_error(line).0, col(line, needle), "{line}");
    }
}
