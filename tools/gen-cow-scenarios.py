#!/usr/bin/env python3
"""Writes the cow.c memory-type runners × anonymous test cases as scenarios.

tools/testing/selftests/mm/cow.c runs each of its 14 anonymous test cases
(reference kernel-gup-cow.md §7.3) on every memory type (§7.2). The base-page
and swapped-base-page runs are written by hand (tests/scenarios/cow/base-*,
cow/swap/); this script writes the THP and hugetlb runs, whose set-up differs
but whose case bodies are the same, into tests/scenarios/cow/thp/ and
cow/hugetlb/. Run it from the repository root after changing a runner or a
case; the files it writes are committed.
"""

import pathlib

# Each runner: (file prefix, cow.c label, machine line, set-up lines, test
# size, what the set-up leaves).
# The set-up maps `mem` in process P, fills the tested range with 0x01 and
# asserts that it got the memory type the runner names.
THP_SETUP = [
    "P mmap mem 2M thp",
    "P write mem 2M 0x01",
    "let head = P pfn mem",
    "expect kpageflags $head has thp,compound_head",
]

RUNNERS = [
    (
        "thp",
        "with THP (2048 kB)",
        "machine ram=1G",
        THP_SETUP + ["expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0"],
        "2M",
        "a PMD-mapped THP",
    ),
    (
        "thp-swap",
        "with swapped-out THP (2048 kB)",
        "machine ram=1G swap=64M",
        THP_SETUP
        + [
            "P madvise mem pageout",
            "expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=2048 hugetlb_kb=0",
        ],
        "2M",
        "a THP swapped out (split first, as reclaim does without THP swap)",
    ),
    (
        "pte-mapped-thp",
        "with PTE-mapped THP (2048 kB)",
        "machine ram=1G",
        THP_SETUP
        + [
            "P mprotect mem ro 4K 4K",
            "P mprotect mem rw 4K 4K",
            "expect P smaps mem == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0",
            "let tail = P pfn mem+2044K",
            "expect kpageflags $tail has thp,compound_tail",
        ],
        "2M",
        "a THP mapped by 512 PTEs (mprotect of one page split the PMD)",
    ),
    (
        "pte-mapped-thp-swap",
        "with swapped-out, PTE-mapped THP (2048 kB)",
        "machine ram=1G swap=64M",
        THP_SETUP
        + [
            "P mprotect mem ro 4K 4K",
            "P mprotect mem rw 4K 4K",
            "P madvise mem pageout",
            "expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=2048 hugetlb_kb=0",
        ],
        "2M",
        "a PTE-mapped THP swapped out",
    ),
    (
        "single-pte-thp",
        "with single PTE of THP (2048 kB)",
        "machine ram=1G",
        THP_SETUP
        + [
            "P madvise mem dontneed 4K 2044K",
            "expect P smaps mem == rss_kb=4 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0",
            "expect kpageflags $head has thp,compound_head",
        ],
        "4K",
        "one PTE mapping the first page of a still-large folio",
    ),
    (
        "single-pte-thp-swap",
        "with single PTE of swapped-out THP (2048 kB)",
        "machine ram=1G swap=64M",
        THP_SETUP
        + [
            "P madvise mem dontneed 4K 2044K",
            "P madvise mem pageout 0 4K",
            "expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=4 hugetlb_kb=0",
        ],
        "4K",
        "the single PTE of a THP, swapped out",
    ),
    (
        "partial-shared-thp",
        "with partially shared THP (2048 kB)",
        "machine ram=1G",
        THP_SETUP
        + [
            "P madvise mem dontfork 4K 2044K",
            "P fork X",
            "X exit",
            "P madvise mem dofork",
            "expect P pte mem == present=1 writable=0 anon_exclusive=0 pfn=$head",
            "let second = P pfn mem+4K",
            "expect P pte mem+4K == present=1 writable=1 anon_exclusive=1 pfn=$second",
        ],
        "2M",
        "a PTE-mapped THP whose first page was shared with a child that is "
        "gone (PG_anon_exclusive clear) while the others stayed exclusive",
    ),
    (
        "hugetlb",
        "with hugetlb (2048 kB)",
        "machine ram=1G hugepages=4",
        [
            "P mmap mem 2M hugetlb",
            "P write mem 2M 0x01",
            "let head = P pfn mem",
            "expect kpageflags $head has huge,compound_head",
            "expect P smaps mem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048",
        ],
        "2M",
        "a private hugetlb page from the pool",
    ),
]

# The cases: (number, cow.c description, why it holds, body lines). `W` is
# the tested size, `LEAK` marks the read that leaks on hugetlb.
CASES = [
    (1, "Basic COW after fork()",
     "Fork clears PG_anon_exclusive and write-protects; the parent's write copies, so it never "
     "leaks into the child.",
     ["P fork C", "P write mem W 0xff", "expect C read mem W == 0x01",
      "expect P read mem W == 0xff"]),
    (2, "Basic COW after fork() with mprotect() optimization",
     "mprotect(RW) makes nothing writable that is not PG_anon_exclusive, so the write still copies.",
     ["P fork C", "P mprotect mem ro 0 W", "P mprotect mem rw 0 W", "P write mem W 0xff",
      "expect C read mem W == 0x01", "expect P read mem W == 0xff"]),
    (3, "vmsplice() + unmap in child",
     "The child's pipe holds FOLL_GET references; after the child unmaps, the parent's page still "
     "has references beyond its mapping, so the write copies (CVE-2020-29374).",
     ["P fork C", "C gup v mem W get", "C munmap mem 0 W", "P write mem W 0xff",
      "LEAK v read 0 W", "release v"]),
    (4, "vmsplice() + unmap in child with mprotect() optimization",
     "As case 3, with mprotect(R) and mprotect(RW) before the write.",
     ["P fork C", "C gup v mem W get", "C munmap mem 0 W", "P mprotect mem ro 0 W",
      "P mprotect mem rw 0 W", "P write mem W 0xff", "LEAK v read 0 W", "release v"]),
    (5, "vmsplice() before fork(), unmap in parent after fork()",
     "The child's write must not show through the parent's pipe.",
     ["P gup v mem W get", "P fork C", "P munmap mem 0 W", "C write mem W 0xff",
      "LEAK v read 0 W", "expect C read mem W == 0xff", "release v"]),
    (6, "vmsplice() + unmap in parent after fork()",
     "The child's write must not show through the parent's pipe.",
     ["P fork C", "P gup v mem W get", "P munmap mem 0 W", "C write mem W 0xff",
      "LEAK v read 0 W", "release v"]),
    (7, "R/O-mapping a page registered as iouring fixed buffer",
     "A R/W longterm pin keeps the memory exclusive; mapped read-only again (soft-dirty stops "
     "mprotect's upgrade), the write fault reuses it and the pin sees the write.",
     ["P gup buf mem W write longterm", "P mprotect mem ro 0 W", "P clear_refs",
      "P mprotect mem rw 0 W", "P write mem W 0xff", "expect buf read 0 W == 0xff",
      "release buf"]),
    (8, "fork() with an iouring fixed buffer",
     "The mm has MMF_HAS_PINNED and the pinned memory is exclusive, so fork copies it for the "
     "child and the parent keeps its pinned pages writable.",
     ["P gup buf mem W write longterm", "P fork C", "P write mem W 0xff",
      "expect buf read 0 W == 0xff", "expect C read mem W == 0x01", "release buf"]),
    (9, "R/O GUP pin on R/O-mapped shared page",
     "gup_must_unshare(): the memory is not exclusive, so the R/O pin unshares (copies) first and "
     "then sees the parent's write.",
     ["P fork C", "P gup p mem W pin longterm", "P write mem W 0xff",
      "expect p read 0 W == 0xff", "expect C read mem W == 0x01", "release p"]),
    (10, "R/O GUP-fast pin on R/O-mapped shared page",
     "GUP-fast backs off on memory that is not exclusive; the slow path unshares.",
     ["P fork C", "P gup p mem W pin longterm fast", "P write mem W 0xff",
      "expect p read 0 W == 0xff", "expect C read mem W == 0x01", "release p"]),
    (11, "R/O GUP pin on R/O-mapped previously-shared page",
     "The child is gone; the unshare fault makes the memory exclusive (reusing or copying it) and "
     "the pin sees the write.",
     ["P fork C", "C exit", "P gup p mem W pin longterm", "P write mem W 0xff",
      "expect p read 0 W == 0xff", "release p"]),
    (12, "R/O GUP-fast pin on R/O-mapped previously-shared page",
     "As case 11 through GUP-fast, which backs off to the slow path.",
     ["P fork C", "C exit", "P gup p mem W pin longterm fast", "P write mem W 0xff",
      "expect p read 0 W == 0xff", "release p"]),
    (13, "R/O GUP pin on R/O-mapped exclusive page",
     "Exclusive but mapped read-only: the pin needs no unshare, the write fault reuses, the pin "
     "sees it.",
     ["P mprotect mem ro 0 W", "P clear_refs", "P mprotect mem rw 0 W",
      "P gup p mem W pin longterm", "P write mem W 0xff", "expect p read 0 W == 0xff",
      "release p"]),
    (14, "R/O GUP-fast pin on R/O-mapped exclusive page",
     "As case 13 through GUP-fast, which pins the exclusive memory directly.",
     ["P mprotect mem ro 0 W", "P clear_refs", "P mprotect mem rw 0 W",
      "P gup p mem W pin longterm fast", "P write mem W 0xff", "expect p read 0 W == 0xff",
      "release p"]),
]

HUGETLB_XFAIL = (
    "hugetlb_wp() reuses a page whose mapcount is 1 even while a pipe references it, so the "
    "write leaks into the pipe: cow.c expects this case to fail on hugetlb (XFAIL), and so "
    "does this scenario."
)


def slug(desc):
    keep = "".join(c.lower() if c.isalnum() else "-" for c in desc)
    return "-".join(p for p in keep.split("-") if p)[:48].rstrip("-")


def wrap(text, prefix="# "):
    out, line = [], prefix
    for word in text.split():
        if len(line) + len(word) + 1 > 78 and line != prefix:
            out.append(line.rstrip())
            line = prefix
        line += word + " "
    out.append(line.rstrip())
    return out


def teardown(lines):
    """Lines that release every pin still held and exit every process still
    alive, then check, so the leak check (check/leak.rs) sees all memory
    return."""
    alive, pins = [], []
    for line in lines:
        t = line.split("#")[0].split()
        if not t:
            continue
        if t[0] == "let" and len(t) > 3:
            t = t[3:]
        if t[0] == "expect":
            if "fails" in t:
                continue
            t = t[1:]
        if t[0] == "spawn":
            alive.append(t[1])
        elif t[0] == "release" and t[1] in pins:
            pins.remove(t[1])
        elif len(t) > 2 and t[1] == "fork":
            alive.append(t[2])
        elif len(t) == 2 and t[1] == "exit" and t[0] in alive:
            alive.remove(t[0])
        elif len(t) > 2 and t[1] == "gup":
            pins.append(t[2])
    if not alive and not pins:
        return []
    return (["", "# Teardown: with every pin released and every process gone, all memory",
             "# returns (check/leak.rs)."]
            + [f"release {p}" for p in pins] + [f"{p} exit" for p in alive] + ["check"])


def main():
    root = pathlib.Path("tests/scenarios/cow")
    for prefix, label, machine, setup, size, what in RUNNERS:
        sub = root / ("hugetlb" if prefix == "hugetlb" else "thp")
        sub.mkdir(parents=True, exist_ok=True)
        hugetlb = prefix == "hugetlb"
        for num, desc, why, body in CASES:
            leaks = hugetlb and 3 <= num <= 6
            lines = wrap(f'cow.c anon case {num} {label}: "{desc}". Set-up: {what}. '
                         + (HUGETLB_XFAIL if leaks else why))
            lines.append(machine)
            lines.append("spawn P")
            lines += setup
            for b in body:
                b = b.replace(" W", " " + size)
                if b.startswith("LEAK "):
                    cmd = b[len("LEAK "):]
                    b = f"expect {cmd} violates oracle" if leaks else f"expect {cmd} == 0x01"
                lines.append(b)
            lines.append("check")
            lines += teardown(lines)
            name = f"{prefix}-{num:02}-{slug(desc)}.mms"
            (sub / name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
