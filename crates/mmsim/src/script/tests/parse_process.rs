//! Process, pin, virtio-mem and balloon commands (SCENARIOS.md, "Processes and memory", "virtio-mem and balloon").

use super::*;
use crate::script::args::ByteRange;
use crate::script::ast::*;
use crate::script::cmd::balloon::*;
use crate::script::cmd::pin::*;
use crate::script::cmd::process::*;
use crate::script::cmd::readers::*;
use crate::script::cmd::virtio::*;
use crate::script::lexer::{self};

#[test]
fn process_commands() {
    let proc = || "A".to_owned();
    let buf = || "buf".to_owned();
    assert_eq!(
        body("spawn B\nfile F 8M\n"),
        vec![
            StmtKind::Command(Cmd::Process(ProcessCmd::Spawn {
                proc: "B".to_owned()
            })),
            StmtKind::Command(Cmd::Process(ProcessCmd::File {
                name: "F".to_owned(),
                size: 8 * M,
                hugetlb: false,
                dax: None,
            })),
        ]
    );
    assert_eq!(
        cmd("A mmap m 2M"),
        Cmd::Process(ProcessCmd::Mmap {
            proc: proc(),
            name: "m".to_owned(),
            size: 2 * M,
            backing: Backing::Anon,
            sharing: Sharing::Private,
            prot: Prot::ReadWrite,
            thp: false,
            hugetlb: false,
            populate: false,
        })
    );
    assert_eq!(
        cmd("A mmap m 2M populate ro shared file=F thp hugetlb"),
        Cmd::Process(ProcessCmd::Mmap {
            proc: proc(),
            name: "m".to_owned(),
            size: 2 * M,
            backing: Backing::File("F".to_owned()),
            sharing: Sharing::Shared,
            prot: Prot::ReadOnly,
            thp: true,
            hugetlb: true,
            populate: true,
        })
    );
    assert_eq!(
        cmd("A munmap buf"),
        Cmd::Process(ProcessCmd::Munmap {
            proc: proc(),
            name: buf(),
            range: None,
        })
    );
    assert_eq!(
        cmd("A munmap buf 4K 8K"),
        Cmd::Process(ProcessCmd::Munmap {
            proc: proc(),
            name: buf(),
            range: Some(ByteRange {
                off: 4 * K,
                len: 8 * K
            }),
        })
    );
    assert_eq!(
        cmd("A mremap buf 8K"),
        Cmd::Process(ProcessCmd::Mremap {
            proc: proc(),
            name: buf(),
            new_size: 8 * K,
            range: None,
            to: None,
        })
    );
    assert_eq!(
        cmd("A mremap buf 1M 1M 1M to=upper"),
        Cmd::Process(ProcessCmd::Mremap {
            proc: proc(),
            name: buf(),
            new_size: M,
            range: Some(ByteRange { off: M, len: M }),
            to: Some("upper".to_owned()),
        })
    );
    assert_eq!(
        cmd("A mremap buf 2M to=upper"),
        Cmd::Process(ProcessCmd::Mremap {
            proc: proc(),
            name: buf(),
            new_size: 2 * M,
            range: None,
            to: Some("upper".to_owned()),
        })
    );
    assert_eq!(
        cmd("A mprotect buf none"),
        Cmd::Process(ProcessCmd::Mprotect {
            proc: proc(),
            name: buf(),
            prot: Prot::None,
            range: None,
        })
    );
    assert_eq!(
        cmd("A madvise buf pageout 0 4K"),
        Cmd::Process(ProcessCmd::Madvise {
            proc: proc(),
            name: buf(),
            advice: Advice::PageOut,
            range: Some(ByteRange { off: 0, len: 4 * K }),
        })
    );
    for (word, advice) in ADVICES {
        match cmd(&format!("A madvise buf {word}")) {
            Cmd::Process(ProcessCmd::Madvise { advice: got, .. }) => assert_eq!(got, *advice),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        cmd("A touch buf"),
        Cmd::Process(ProcessCmd::Touch {
            proc: proc(),
            name: buf(),
            range: None,
        })
    );
    assert_eq!(
        cmd("A write buf+4K 8K 0xbb"),
        Cmd::Process(ProcessCmd::Write {
            proc: proc(),
            place: place("buf", 4 * K),
            data: WriteData::Fill {
                len: 8 * K,
                byte: 0xbb
            },
        })
    );
    assert_eq!(
        cmd(r#"A write buf+0x10 "hi\x00""#),
        Cmd::Process(ProcessCmd::Write {
            proc: proc(),
            place: place("buf", 16),
            data: WriteData::Text(b"hi\0".to_vec()),
        })
    );
    assert_eq!(
        cmd("A read buf 4K"),
        Cmd::Process(ProcessCmd::Read {
            proc: proc(),
            place: place("buf", 0),
            len: 4 * K,
        })
    );
    assert_eq!(
        body("A fork B\nB exit\n"),
        vec![
            StmtKind::Command(Cmd::Process(ProcessCmd::Fork {
                proc: proc(),
                child: "B".to_owned(),
            })),
            StmtKind::Command(Cmd::Process(ProcessCmd::Exit {
                proc: "B".to_owned()
            })),
        ]
    );
    assert_eq!(
        cmd("A gup q buf+8K 4K"),
        Cmd::Pin(PinCmd::Gup {
            proc: proc(),
            pin: "q".to_owned(),
            place: place("buf", 8 * K),
            len: 4 * K,
            write: false,
            kind: GupKind::Pin,
            fast: false,
            longterm: false,
        })
    );
    assert_eq!(
        cmd("A gup q buf 4K longterm get fast write"),
        Cmd::Pin(PinCmd::Gup {
            proc: proc(),
            pin: "q".to_owned(),
            place: place("buf", 0),
            len: 4 * K,
            write: true,
            kind: GupKind::Get,
            fast: true,
            longterm: true,
        })
    );
    assert_eq!(
        cmd("A pagemap buf+4K"),
        Cmd::Reader(ReaderCmd::Pagemap {
            proc: proc(),
            place: place("buf", 4 * K),
        })
    );
    assert_eq!(
        cmd("A pte buf"),
        Cmd::Reader(ReaderCmd::Pte {
            proc: proc(),
            place: place("buf", 0),
        })
    );
    assert_eq!(
        cmd("A pfn buf+1M"),
        Cmd::Reader(ReaderCmd::Pfn {
            proc: proc(),
            place: place("buf", M),
        })
    );
    assert_eq!(cmd("ksm run"), Cmd::Process(ProcessCmd::KsmRun));
    for (line, needle) in [
        ("A mmap m 4K anon file=F", "file"),
        ("A mmap m 4K private shared", "shared"),
        ("A mmap m 4K rw ro", "ro"),
        ("A mmap m 4K file=1F", "1F"),
        ("A mmap m 4K huge", "huge"),
        ("A mprotect buf rx", "rx"),
        // A part of a mapping moves only onto a named one.
        ("A mremap buf 1M 4K 4K", "4K"),
        ("A mremap buf 12Q", "12Q"),
        ("A mremap buf 1M to=1x", "1x"),
        ("A mremap buf 1M go=x", "go=x"),
        ("A mremap buf 1M 4K 4K to=x y", "y"),
        ("A mremap buf 0x1ffffffffffffffff", "0x1ffffffffffffffff"),
        ("A madvise buf willneed", "willneed"),
        ("A write buf+4X 1 0", "4X"),
        ("A write buf+ 1 0", "buf+"),
        ("A write 0 1 0xaa", "0 1"),
        ("A write buf 1 0x100", "0x100"),
        ("A write buf \"x\" 1", "1"),
        ("A gup q buf 4K pin get", "get"),
        ("A gup q buf 4K slow", "slow"),
        ("A fly", "fly"),
        ("A exit now", "now"),
        ("ksm stop", "stop"),
    ] {
        let at = match needle {
            "buf+" => col(line, needle) + 4,
            "1" => lexer::char_count(line),
            _ => col(line, needle),
        };
        assert_eq!(line_error(line).0, at, "{line}");
    }
}

#[test]
fn pin_commands() {
    assert_eq!(
        cmd("p read 0 1"),
        Cmd::Pin(PinCmd::Read {
            pin: "p".to_owned(),
            off: 0,
            len: 1,
        })
    );
    assert_eq!(
        cmd("p write 1K 2K 0x5a"),
        Cmd::Pin(PinCmd::Write {
            pin: "p".to_owned(),
            off: K,
            len: 2 * K,
            byte: 0x5a,
        })
    );
    assert_eq!(
        cmd("release p"),
        Cmd::Pin(PinCmd::Release {
            pin: "p".to_owned()
        })
    );
    // A pin is read at an offset, not a place.
    let line = "A munmap buf 4K";
    assert_eq!(line_error(line).0, lexer::char_count(line) + 1);
    let line = "p read buf 4K";
    assert_eq!(line_error(line).0, col(line, "buf"));
    let line = "p touch 0 1";
    assert_eq!(line_error(line).0, col(line, "touch"));
}

#[test]
fn virtio_mem_commands() {
    assert_eq!(
        cmd("virtio-mem add vm0 addr=0x140000000 size=1G block=2M"),
        Cmd::Virtio(VirtioCmd::Add {
            dev: "vm0".to_owned(),
            addr: 5 * G,
            size: G,
            block: 2 * M,
            node: None,
            requested: 0,
            inaccessible: false,
            nodriver: false,
            opts: DriverOpts::default(),
        })
    );
    assert_eq!(
        cmd("virtio-mem add vm0 nodriver block=4M requested=256M inaccessible node=1 size=1G addr=0x140000000"),
        Cmd::Virtio(VirtioCmd::Add {
            dev: "vm0".to_owned(),
            addr: 5 * G,
            size: G,
            block: 4 * M,
            node: Some(1),
            requested: 256 * M,
            inaccessible: true,
            nodriver: true,
            opts: DriverOpts::default(),
        })
    );
    assert_eq!(
        cmd("virtio-mem probe vm0 force_bbm=1 unplug_online=0 bbm_block_size=256M offline_threshold=2G"),
        Cmd::Virtio(VirtioCmd::Probe {
            dev: "vm0".to_owned(),
            opts: DriverOpts {
                force_bbm: Some(true),
                bbm_block_size: Some(256 * M),
                unplug_online: Some(false),
                offline_threshold: Some(2 * G),
            },
        })
    );
    assert_eq!(
        cmd("virtio-mem busy vm0 on"),
        Cmd::Virtio(VirtioCmd::Busy {
            dev: "vm0".to_owned(),
            on: true,
        })
    );
    assert_eq!(
        cmd("virtio-mem expire vm0"),
        Cmd::Virtio(VirtioCmd::Expire {
            dev: "vm0".to_owned(),
        })
    );
    assert_eq!(
        cmd("virtio-mem driver vm0 memory33"),
        Cmd::Virtio(VirtioCmd::Driver {
            dev: "vm0".to_owned(),
            field: Some("memory33".to_owned()),
        })
    );
    assert_eq!(
        cmd("virtio-mem resize vm0 512M"),
        Cmd::Virtio(VirtioCmd::Resize {
            dev: "vm0".to_owned(),
            size: 512 * M,
        })
    );
    assert_eq!(
        cmd("virtio-mem show vm0 plugged_size"),
        Cmd::Virtio(VirtioCmd::Show {
            dev: "vm0".to_owned(),
            field: Some("plugged_size".to_owned()),
        })
    );
    for (line, req) in [
        (
            "virtio-mem request vm0 plug 0x140000000 4",
            VirtioMemRequest::Plug {
                addr: 5 * G,
                nb_blocks: 4,
            },
        ),
        (
            "virtio-mem request vm0 unplug 0x140000000 1",
            VirtioMemRequest::Unplug {
                addr: 5 * G,
                nb_blocks: 1,
            },
        ),
        (
            "virtio-mem request vm0 state 0x140000000 512",
            VirtioMemRequest::State {
                addr: 5 * G,
                nb_blocks: 512,
            },
        ),
        (
            "virtio-mem request vm0 unplug_all",
            VirtioMemRequest::UnplugAll,
        ),
        (
            "virtio-mem request vm0 unplug_all 0 0",
            VirtioMemRequest::UnplugAll,
        ),
    ] {
        assert_eq!(
            cmd(line),
            Cmd::Virtio(VirtioCmd::Request {
                dev: "vm0".to_owned(),
                req,
            }),
            "{line}"
        );
    }
    for (line, needle) in [
        ("virtio-mem request vm0 plug 0x140000000 65536", "65536"),
        ("virtio-mem request vm0 unplug_all 0", "0"),
        ("virtio-mem request vm0 grow 0 1", "grow"),
        (
            "virtio-mem add vm0 addr=0 size=1G block=2M addr=0",
            "addr=0 ",
        ),
        ("virtio-mem add vm0 addr=0 size=1G block=2M fast", "fast"),
        ("virtio-mem add 0vm addr=0 size=1G block=2M", "0vm"),
        // The device's own rules, at the word that breaks them (V-CFG-5/6).
        ("virtio-mem add vm0 addr=0 size=1G block=3M", "block=3M"),
        ("virtio-mem add vm0 addr=0 size=1G block=2K", "block=2K"),
        (
            "virtio-mem add vm0 addr=0x100000 size=1G block=2M",
            "addr=0x100000",
        ),
        ("virtio-mem add vm0 addr=0 size=3M block=2M", "size=3M"),
        ("virtio-mem add vm0 addr=0 size=0 block=4K", "size=0"),
        (
            "virtio-mem add vm0 addr=0 size=1G block=2M requested=2G",
            "requested=2G",
        ),
        (
            "virtio-mem add vm0 addr=0 size=1G block=2M requested=1M",
            "requested=1M",
        ),
        (
            "virtio-mem add vm0 addr=0xfffffffffff00000 size=2M block=1M",
            "size=2M",
        ),
        (
            "virtio-mem add vm0 addr=0 size=1G block=2M force_bbm=2",
            "force_bbm=2",
        ),
        (
            "virtio-mem add vm0 addr=0 size=1G block=2M offline_threshold=0",
            "offline_threshold=0",
        ),
        ("virtio-mem probe vm0 addr=0", "addr=0"),
        ("virtio-mem busy vm0 maybe", "maybe"),
    ] {
        let at = match needle {
            "0" => lexer::char_count(line) + 1,
            // A bad option value is reported at the value.
            n if n.contains('=') && !n.ends_with(' ') && n != "addr=0" => {
                col(line, n) + n.find('=').unwrap() as u32 + 1
            }
            "addr=0 " => col(line, "2M") + 3,
            _ => col(line, needle),
        };
        assert_eq!(line_error(line).0, at, "{line}");
    }
    let line = "virtio-mem add vm0 addr=0 size=1G";
    let (column, message) = line_error(line);
    assert_eq!(column, lexer::char_count(line) + 1);
    assert!(message.contains("block="), "{message}");
}

#[test]
fn balloon_commands() {
    assert_eq!(
        cmd("balloon inflate 64M"),
        Cmd::Balloon(BalloonCmd::Inflate { size: 64 * M })
    );
    assert_eq!(
        cmd("balloon deflate 4097"),
        Cmd::Balloon(BalloonCmd::Deflate { size: 4097 })
    );
    assert_eq!(
        cmd("balloon show pages"),
        Cmd::Balloon(BalloonCmd::Show {
            field: Some("pages".to_owned())
        })
    );
    assert_eq!(
        cmd("balloon show"),
        Cmd::Balloon(BalloonCmd::Show { field: None })
    );
    for (line, needle) in [
        ("balloon pop 1M", "pop"),
        ("balloon inflate", ""),
        ("balloon deflate 1Q", "1Q"),
        ("balloon show pages extra", "extra"),
    ] {
        let at = match needle {
            "" => lexer::char_count(line) + 1,
            _ => col(line, needle),
        };
        assert_eq!(line_error(line).0, at, "{line}");
    }
}

// The device-memory forms: `file F SIZE dax=NAME`, `memremap add`, and their
// hostile variants reported at the column.
#[test]
fn parses_dax_file_memremap_and_migrate_to_device() {
    assert_eq!(
        cmd("file F 1M dax=pmem0"),
        Cmd::Process(ProcessCmd::File {
            name: "F".to_owned(),
            size: M,
            hugetlb: false,
            dax: Some("pmem0".to_owned()),
        })
    );
    assert_eq!(
        cmd("A migrate_to_device buf+4K 8K dev0"),
        Cmd::Devmem(crate::script::cmd::devmem::DevmemCmd::MigrateToDevice {
            proc: "A".to_owned(),
            place: crate::script::args::Place {
                mapping: "buf".to_owned(),
                off: 4096,
            },
            len: 8192,
            pgmap: "dev0".to_owned(),
        })
    );
    for bad in [
        "file F 1M dax=pmem0 hugetlb",
        "file F 1M dax=0bad",
        "memremap add d addr=0x1000 size=2M type=fsdax",
        "memremap add d addr=0x200000 size=3M type=private",
        "memremap add d addr=0x200000 size=2M",
        "memremap frob d",
    ] {
        let (column, message) = line_error(bad);
        assert!(column > 1, "{bad}: {message}");
    }
}
