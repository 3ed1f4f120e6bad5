//! One test per rule, in the manner of the kernel's mm selftests (cow.c):
//! name the case, set up, act, assert what user space observes.

use super::*;

const PAGE: u64 = PAGE_SIZE;
const K4: usize = PAGE_SIZE as usize;

const PIN_RO: PinFlags = PinFlags {
    kind: PinKind::Pin,
    write: false,
    longterm: false,
};
const PIN_RO_LONGTERM: PinFlags = PinFlags {
    kind: PinKind::Pin,
    write: false,
    longterm: true,
};
const PIN_RW: PinFlags = PinFlags {
    kind: PinKind::Pin,
    write: true,
    longterm: false,
};
const GET_RO: PinFlags = PinFlags {
    kind: PinKind::Get,
    write: false,
    longterm: false,
};

type R = Result<(), OracleError>;

fn violation(r: R) -> OracleViolation {
    match r {
        Err(OracleError::Violation(v)) => v,
        other => panic!("expected an oracle violation, got {other:?}"),
    }
}

/// `A` with a 2-page private anonymous `buf` full of 0xaa.
fn parent_with_buf() -> Result<Oracle, OracleError> {
    let mut o = Oracle::new();
    o.spawn("A")?;
    o.mmap_anon("A", "buf", 2 * PAGE)?;
    o.write("A", "buf", 0, &[0xaa; 2 * K4])?;
    Ok(o)
}

// process-read

#[test]
fn process_read_anon_starts_zero_and_shows_own_writes() -> R {
    let mut o = Oracle::new();
    o.spawn("A")?;
    o.mmap_anon("A", "buf", 1 << 30)?; // 1 GiB costs nothing until written
    o.check_read("A", "buf", 512 << 20, &[0; 64])?;
    o.write("A", "buf", 10, b"hello")?;
    o.check_read("A", "buf", 8, b"\0\0hello\0")?;
    let v = violation(o.check_read("A", "buf", 8, b"\0\0jello\0"));
    assert_eq!(
        (v.rule, v.who.as_str(), v.addr.as_str()),
        ("process-read", "A", "buf+0xa")
    );
    assert_eq!(
        (v.expected.as_str(), v.got.as_str()),
        ("68, 65, 6c x2, 6f, 00", "6a, 65, 6c x2, 6f, 00")
    );
    Ok(())
}

#[test]
fn process_read_fork_isolates_both_ways() -> R {
    // cow.c "Basic COW after fork()": neither side sees the other's writes.
    let mut o = parent_with_buf()?;
    o.fork("A", "B", &[])?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    o.write("B", "buf", PAGE, &[0xcc; K4])?;
    o.check_read("A", "buf", 0, &[0xbb; K4])?;
    o.check_read("A", "buf", PAGE, &[0xaa; K4])?;
    o.check_read("B", "buf", 0, &[0xaa; K4])?;
    o.check_read("B", "buf", PAGE, &[0xcc; K4])?;
    let v = violation(o.check_read("B", "buf", 0, &[0xbb; K4]));
    assert_eq!(
        (v.rule, v.who.as_str(), v.addr.as_str()),
        ("process-read", "B", "buf+0x0")
    );
    let v = violation(o.check_read("A", "buf", PAGE, &[0xcc; K4]));
    assert_eq!((v.who.as_str(), v.addr.as_str()), ("A", "buf+0x1000"));
    Ok(())
}

#[test]
fn process_read_dontfork_range_is_absent_in_child() -> R {
    let mut o = parent_with_buf()?;
    o.mmap_anon("A", "gone", PAGE)?;
    let dontfork = [
        ("buf".to_string(), PAGE, PAGE),
        ("gone".to_string(), 0, PAGE),
    ];
    o.fork("A", "B", &dontfork)?;
    o.check_read("B", "buf", 0, &[0xaa; K4])?;
    assert!(matches!(
        o.check_read("B", "buf", PAGE, &[0xaa]),
        Err(OracleError::Unmapped { .. })
    ));
    assert!(matches!(
        o.check_read("B", "gone", 0, &[0]),
        Err(OracleError::NoSuchMapping { .. })
    ));
    o.check_read("A", "buf", PAGE, &[0xaa; K4])?;
    o.mmap_anon("B", "gone", PAGE)?; // the name is free in the child
    Ok(())
}

#[test]
fn process_read_private_file_follows_file_until_page_written() -> R {
    let mut o = Oracle::new();
    o.file("F", 2 * PAGE)?;
    o.spawn("A")?;
    o.spawn("W")?;
    o.mmap_file("A", "priv", "F", 2 * PAGE, false)?;
    o.mmap_file("W", "shm", "F", 2 * PAGE, true)?;
    o.write("W", "shm", 0, &[0x11; 2 * K4])?;
    o.check_read("A", "priv", 0, &[0x11; 2 * K4])?; // not written yet: the file
    o.write("A", "priv", 0, b"x")?; // page 0 becomes A's own
    o.write("W", "shm", 0, &[0x22; 2 * K4])?;
    let mut page0 = [0x11; K4];
    page0[0] = b'x';
    o.check_read("A", "priv", 0, &page0)?;
    o.check_read("A", "priv", PAGE, &[0x22; K4])?; // page 1 still follows the file
    o.check_read("W", "shm", 0, &[0x22; K4])?; // A's write never reaches the file

    // fork copies the own page; the other keeps following the file.
    o.fork("A", "B", &[])?;
    o.write("W", "shm", 0, &[0x33; 2 * K4])?;
    o.check_read("B", "priv", 0, &page0)?;
    o.check_read("B", "priv", PAGE, &[0x33; K4])?;
    Ok(())
}

#[test]
fn process_read_shared_file_mappings_share() -> R {
    let mut o = Oracle::new();
    o.file("F", PAGE)?;
    o.spawn("A")?;
    o.mmap_file("A", "m", "F", PAGE, true)?;
    o.fork("A", "B", &[])?;
    o.spawn("C")?;
    o.mmap_file("C", "m2", "F", PAGE, true)?;
    o.write("B", "m", 100, b"shared")?;
    o.check_read("A", "m", 100, b"shared")?;
    o.check_read("C", "m2", 100, b"shared")?;
    o.exit("B")?;
    o.check_read("C", "m2", 100, b"shared")?; // the file outlives its mappers
    Ok(())
}

#[test]
fn process_read_dontneed_discards_private_memory_only() -> R {
    let mut o = parent_with_buf()?;
    o.file("F", PAGE)?;
    o.mmap_file("A", "shm", "F", PAGE, true)?;
    o.mmap_file("A", "priv", "F", PAGE, false)?;
    o.write("A", "shm", 0, &[0x11; K4])?;
    o.write("A", "priv", 0, &[0x22; K4])?;
    o.madvise_dontneed("A", "buf", 0, 2 * PAGE)?;
    o.madvise_dontneed("A", "shm", 0, PAGE)?;
    o.madvise_dontneed("A", "priv", 0, PAGE)?;
    o.check_read("A", "buf", 0, &[0; 2 * K4])?;
    o.check_read("A", "shm", 0, &[0x11; K4])?;
    o.check_read("A", "priv", 0, &[0x11; K4])?; // back to the file
    Ok(())
}

// pin-coherent

#[test]
fn pin_coherent_sees_owner_writes_not_child_writes() -> R {
    // gup_must_unshare(): a R/O pin of a page still shared with the child
    // unshares it first, so the pin follows A and never B.
    let mut o = parent_with_buf()?;
    o.fork("A", "B", &[])?;
    o.pin("p", "A", "buf", 0, PAGE, PIN_RO)?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    o.write("B", "buf", 0, &[0xcc; K4])?;
    o.check_pin_read("p", 0, &[0xbb; K4])?;
    let v = violation(o.check_pin_read("p", 16, &[0xaa; 32]));
    assert_eq!(v.rule, "pin-coherent");
    assert_eq!(
        (v.who.as_str(), v.addr.as_str()),
        ("pin p of A", "buf+0x10")
    );
    assert_eq!((v.expected.as_str(), v.got.as_str()), ("bb x32", "aa x32"));
    Ok(())
}

#[test]
fn pin_coherent_keeps_last_bytes_after_owner_munmap_and_exit() -> R {
    let mut o = parent_with_buf()?;
    o.pin("p", "A", "buf", 0, 2 * PAGE, PIN_RO)?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    o.munmap("A", "buf", 0, PAGE)?;
    assert!(matches!(
        o.check_read("A", "buf", 0, &[0xbb]),
        Err(OracleError::Unmapped { .. })
    ));
    o.check_pin_read("p", 0, &[0xbb; K4])?;
    o.write("A", "buf", PAGE, &[0xcc; K4])?;
    o.check_pin_read("p", PAGE, &[0xcc; K4])?; // the still-mapped page still follows
    o.exit("A")?;
    o.check_pin_read("p", 0, &[0xbb; K4])?;
    o.check_pin_read("p", PAGE, &[0xcc; K4])?;
    assert_eq!(
        violation(o.check_pin_read("p", 0, &[0; 1])).rule,
        "pin-coherent"
    );
    o.release("p")?;
    assert!(
        o.orphans.get(frame::OrphanId(1)).is_none() && o.orphans.get(frame::OrphanId(2)).is_none()
    );
    Ok(())
}

// madvise_walk_vmas(): MADV_DONTNEED over a range with a hole discards the
// mapped pages (the call fails with ENOMEM); the plain form refuses a hole.
#[test]
fn process_read_dontneed_across_a_hole_discards_the_mapped_pages() -> R {
    let mut o = Oracle::new();
    o.spawn("A")?;
    o.mmap_anon("A", "buf", 3 * PAGE)?;
    o.write("A", "buf", 0, &[0xaa; 3 * K4])?;
    o.munmap("A", "buf", PAGE, PAGE)?;
    assert!(matches!(
        o.madvise_dontneed("A", "buf", 0, 3 * PAGE),
        Err(OracleError::Unmapped { .. })
    ));
    o.check_read("A", "buf", 0, &[0xaa; K4])?;
    o.madvise_dontneed_mapped("A", "buf", 0, 2 * PAGE + 1)?;
    o.check_read("A", "buf", 0, &[0; K4])?;
    o.check_read("A", "buf", 2 * PAGE, &[0; K4])?;
    Ok(())
}

#[test]
fn pin_coherent_after_dontneed_keeps_old_memory() -> R {
    let mut o = parent_with_buf()?;
    o.pin("p", "A", "buf", 0, PAGE, PIN_RW)?;
    o.madvise_dontneed("A", "buf", 0, PAGE)?;
    o.write("A", "buf", 0, &[0xbb; K4])?; // new memory
    o.check_pin_read("p", 0, &[0xaa; K4])?;
    o.pin_write("p", 0, &[0xdd; 8])?; // DMA into the old memory
    o.check_read("A", "buf", 0, &[0xbb; K4])?;
    Ok(())
}

#[test]
fn pin_coherent_write_pin_dma_visible_to_owner() -> R {
    let mut o = parent_with_buf()?;
    o.pin("p", "A", "buf", 100, 2 * PAGE - 200, PIN_RW)?;
    o.pin_write("p", PAGE - 100, &[0xee; 16])?; // at buf+0x1000
    o.check_read("A", "buf", PAGE - 1, &[0xaa, 0xee, 0xee])?;
    o.check_pin_read("p", PAGE - 100, &[0xee; 16])?;
    o.fork("A", "B", &[])?;
    o.pin_write("p", 0, &[0x77])?; // the child has its own copy
    o.check_read("A", "buf", 100, &[0x77])?;
    o.check_read("B", "buf", 100, &[0xaa])?;
    Ok(())
}

#[test]
fn pin_coherent_shared_file_pin_follows_file_after_munmap() -> R {
    let mut o = Oracle::new();
    o.file("F", PAGE)?;
    o.spawn("A")?;
    o.spawn("W")?;
    o.mmap_file("A", "m", "F", PAGE, true)?;
    o.mmap_file("W", "m", "F", PAGE, true)?;
    o.pin("p", "A", "m", 0, PAGE, PIN_RW)?;
    o.pin_write("p", 0, b"dma")?;
    o.check_read("W", "m", 0, b"dma")?; // DMA lands in the file
    o.munmap("A", "m", 0, PAGE)?;
    o.write("W", "m", 0, b"new")?;
    o.check_pin_read("p", 0, b"new")?; // a pinned file page stays the file's
    Ok(())
}

#[test]
fn pin_coherent_private_file_longterm_pin_breaks_cow() -> R {
    // cow.c "R/O longterm GUP pin ... with memfd": unshare first, so the pin
    // sees the owner's write; the pinned page stops following the file.
    let mut o = Oracle::new();
    o.file("F", PAGE)?;
    o.spawn("A")?;
    o.mmap_file("A", "priv", "F", PAGE, false)?;
    o.mmap_file("A", "shm", "F", PAGE, true)?;
    o.pin("p", "A", "priv", 0, PAGE, PIN_RO_LONGTERM)?;
    o.write("A", "shm", 0, &[0x11; K4])?;
    o.check_read("A", "priv", 0, &[0; K4])?;
    o.write("A", "priv", 0, &[0xff; K4])?;
    o.check_pin_read("p", 0, &[0xff; K4])?;
    o.check_read("A", "shm", 0, &[0x11; K4])?;
    Ok(())
}

#[test]
fn pin_coherent_private_file_short_term_pin_holds_file_page() -> R {
    // A R/O short-term pin of a not-yet-copied page holds the page cache
    // page: it follows the file, not the owner's later COW copy.
    let mut o = Oracle::new();
    o.file("F", PAGE)?;
    o.spawn("A")?;
    o.mmap_file("A", "priv", "F", PAGE, false)?;
    o.mmap_file("A", "shm", "F", PAGE, true)?;
    o.pin("p", "A", "priv", 0, PAGE, PIN_RO)?;
    o.write("A", "priv", 0, &[0xff; K4])?;
    o.write("A", "shm", 0, &[0x11; K4])?;
    o.check_pin_read("p", 0, &[0x11; K4])?;
    assert_eq!(
        violation(o.check_pin_read("p", 0, &[0xff; K4])).rule,
        "pin-coherent"
    );
    Ok(())
}

// pin-no-foreign-writes

#[test]
fn pin_no_foreign_writes_short_term_pin_of_unwritten_memory() -> R {
    // Linux pins the shared zero page there: the owner's later write may or
    // may not show, another process's write never does.
    let mut o = Oracle::new();
    o.spawn("A")?;
    o.mmap_anon("A", "buf", PAGE)?;
    o.pin("p", "A", "buf", 0, PAGE, PIN_RO)?;
    o.fork("A", "B", &[])?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    o.write("B", "buf", 0, &[0xcc; K4])?;
    o.check_pin_read("p", 0, &[0; K4])?;
    o.check_pin_read("p", 0, &[0xbb; K4])?;
    let v = violation(o.check_pin_read("p", 0, &[0xcc; K4]));
    assert_eq!(
        (v.rule, v.who.as_str()),
        ("pin-no-foreign-writes", "pin p of A")
    );
    Ok(())
}

// get-no-foreign-writes

#[test]
fn get_no_foreign_writes_accepts_owner_write_either_way() -> R {
    let mut o = parent_with_buf()?;
    o.pin("g", "A", "buf", 0, PAGE, GET_RO)?;
    o.fork("A", "B", &[])?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    o.check_pin_read("g", 0, &[0xaa; K4])?; // COW moved A away
    o.check_pin_read("g", 0, &[0xbb; K4])?; // or A wrote in place
    let mut mixed = [0xaa; K4];
    mixed[..8].fill(0xbb);
    o.check_pin_read("g", 0, &mixed)?;
    Ok(())
}

#[test]
fn get_no_foreign_writes_child_write_after_fork_is_a_violation() -> R {
    // CVE-2020-29374, parent side: the reference must not show the child's bytes.
    let mut o = parent_with_buf()?;
    o.pin("g", "A", "buf", 0, 2 * PAGE, GET_RO)?;
    o.fork("A", "B", &[])?;
    o.write("B", "buf", PAGE + 8, &[0xcc; 4])?;
    o.check_pin_read("g", 0, &[0xaa; 2 * K4])?;
    let mut got = [0xaa; 2 * K4];
    got[K4 + 8..K4 + 12].fill(0xcc);
    let v = violation(o.check_pin_read("g", 0, &got));
    assert_eq!(v.rule, "get-no-foreign-writes");
    assert_eq!(
        (v.who.as_str(), v.addr.as_str()),
        ("pin g of A", "buf+0x1008")
    );
    assert_eq!(
        (v.expected.as_str(), v.got.as_str()),
        ("aa x4088", "cc x4, aa x4084")
    );
    Ok(())
}

#[test]
fn get_no_foreign_writes_parent_write_seen_by_child_ref_is_a_violation() -> R {
    // cow.c "vmsplice() + unmap in child": the child's reference must never
    // show what the parent writes after fork.
    let mut o = parent_with_buf()?;
    o.fork("A", "B", &[])?;
    o.pin("g", "B", "buf", 0, PAGE, GET_RO)?;
    o.munmap("B", "buf", 0, 2 * PAGE)?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    o.check_pin_read("g", 0, &[0xaa; K4])?;
    let v = violation(o.check_pin_read("g", 0, &[0xbb; K4]));
    assert_eq!(
        (v.rule, v.who.as_str(), v.addr.as_str()),
        ("get-no-foreign-writes", "pin g of B", "buf+0x0")
    );
    assert_eq!(
        (v.expected.as_str(), v.got.as_str()),
        ("aa x4096", "bb x4096")
    );
    Ok(())
}

#[test]
fn get_no_foreign_writes_shared_file_writes_are_not_foreign() -> R {
    let mut o = Oracle::new();
    o.file("F", PAGE)?;
    o.spawn("A")?;
    o.spawn("W")?;
    o.mmap_file("A", "m", "F", PAGE, true)?;
    o.mmap_file("W", "m", "F", PAGE, true)?;
    o.pin("g", "A", "m", 0, PAGE, GET_RO)?;
    o.write("W", "m", 0, &[0x55; K4])?;
    o.check_pin_read("g", 0, &[0x55; K4])?;
    Ok(())
}

// pin-write-ro

#[test]
fn pin_write_ro_through_get_or_read_only_pin() -> R {
    let mut o = parent_with_buf()?;
    o.pin("g", "A", "buf", 0, PAGE, GET_RO)?;
    o.pin("r", "A", "buf", PAGE, PAGE, PIN_RO)?;
    let v = violation(o.pin_write("g", 4, &[1]));
    assert_eq!(
        (v.rule, v.who.as_str(), v.addr.as_str()),
        ("pin-write-ro", "pin g of A", "buf+0x4")
    );
    assert_eq!(v.got, "a FOLL_GET reference");
    let v = violation(o.pin_write("r", 0, &[1]));
    assert_eq!(
        (v.addr.as_str(), v.got.as_str()),
        ("buf+0x1000", "a read-only FOLL_PIN")
    );
    o.check_read("A", "buf", 0, &[0xaa; 2 * K4])?; // nothing changed
    Ok(())
}

// Reports and errors

#[test]
fn violation_display_format() -> R {
    let mut o = parent_with_buf()?;
    o.fork("A", "B", &[])?;
    o.write("A", "buf", 0, &[0xbb; K4])?;
    let v = violation(o.check_read("B", "buf", 0, &[0xbb; K4]));
    assert_eq!(
        v.to_string(),
        "oracle violation: process-read: B at buf+0x0: expected aa x4096, got bb x4096"
    );
    let mut got = [0xaa; K4];
    got[0x20..0x23].copy_from_slice(b"ABC");
    let e = o.check_read("B", "buf", 0, &got).unwrap_err();
    assert_eq!(
        e.to_string(),
        "oracle violation: process-read: B at buf+0x20: expected aa x4064, got 41, 42, 43, aa x4061"
    );
    Ok(())
}

#[test]
fn bad_requests_are_errors_and_change_nothing() -> R {
    let mut o = parent_with_buf()?;
    assert_eq!(o.spawn("A"), Err(OracleError::ProcessExists("A".into())));
    assert_eq!(
        o.write("Z", "buf", 0, b"x"),
        Err(OracleError::NoSuchProcess("Z".into()))
    );
    assert!(matches!(
        o.write("A", "nope", 0, b"x"),
        Err(OracleError::NoSuchMapping { .. })
    ));
    assert!(matches!(
        o.mmap_anon("A", "buf", PAGE),
        Err(OracleError::MappingExists { .. })
    ));
    assert!(matches!(
        o.mmap_anon("A", "empty", 0),
        Err(OracleError::EmptyRange { .. })
    ));
    assert!(matches!(
        o.mmap_file("A", "f", "F", PAGE, true),
        Err(OracleError::NoSuchFile(_))
    ));
    assert!(matches!(
        o.write("A", "buf", 2 * PAGE - 1, b"xy"),
        Err(OracleError::OutOfRange { .. })
    ));
    assert!(matches!(
        o.write("A", "buf", u64::MAX, b"xy"),
        Err(OracleError::OutOfRange { .. })
    ));
    assert!(matches!(
        o.munmap("A", "buf", 1, PAGE),
        Err(OracleError::Unaligned { .. })
    ));
    assert!(matches!(
        o.munmap("A", "buf", PAGE, 2 * PAGE),
        Err(OracleError::OutOfRange { .. })
    ));
    let bad_dontfork = [("buf".to_string(), 0, PAGE), ("nope".to_string(), 0, PAGE)];
    assert!(matches!(
        o.fork("A", "B", &bad_dontfork),
        Err(OracleError::NoSuchMapping { .. })
    ));
    assert!(matches!(
        o.check_read("B", "buf", 0, &[0]),
        Err(OracleError::NoSuchProcess(_))
    ));
    assert!(matches!(
        o.check_pin_read("p", 0, &[0]),
        Err(OracleError::NoSuchPin(_))
    ));
    o.pin("p", "A", "buf", 0, PAGE, PIN_RO)?;
    assert!(matches!(
        o.pin("p", "A", "buf", 0, PAGE, PIN_RO),
        Err(OracleError::PinExists(_))
    ));
    assert!(matches!(
        o.check_pin_read("p", PAGE, &[0]),
        Err(OracleError::OutOfRange { .. })
    ));
    o.file("F", 100)?;
    assert!(matches!(o.file("F", 1), Err(OracleError::FileExists(_))));
    o.mmap_file("A", "f", "F", PAGE, true)?;
    assert!(matches!(
        o.write("A", "f", 99, b"xy"),
        Err(OracleError::BeyondEof { .. })
    ));
    o.check_read("A", "buf", 0, &[0xaa; 2 * K4])?;
    Ok(())
}

#[test]
fn munmap_whole_mapping_frees_its_name() -> R {
    let mut o = parent_with_buf()?;
    o.munmap("A", "buf", PAGE, PAGE)?;
    o.check_read("A", "buf", 0, &[0xaa; K4])?;
    o.munmap("A", "buf", 0, PAGE)?;
    assert!(matches!(
        o.check_read("A", "buf", 0, &[0]),
        Err(OracleError::NoSuchMapping { .. })
    ));
    o.mmap_anon("A", "buf", PAGE)?;
    o.check_read("A", "buf", 0, &[0; K4])?;
    Ok(())
}
