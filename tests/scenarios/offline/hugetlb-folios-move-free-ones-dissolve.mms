# Offlining a ZONE_MOVABLE block that holds hugetlb folios (issue 9 item 7;
# mm/memory_hotplug.c offline_pages(), mm/hugetlb.c). 2 MiB hugetlb pages
# migrate, so the pool is allocated movable and sits in ZONE_MOVABLE here.
# In-use folios — anonymous ones shared by fork, and a hugetlbfs file's —
# migrate (isolate_hugetlb(), unmap_and_move_huge_page() with PMD migration
# entries): no pool folio is left outside the block, so each target is a
# fresh temporary folio that takes the old one's place in the pool
# (move_hugetlb_state()). The free folios in the block are dissolved
# (dissolve_free_hugetlb_folios()) and the pool shrinks: nothing refills it.
# A pinned folio keeps the block online until the writer is signalled.
machine ram=2G movable=128M hugepages=8
expect meminfo HugePages_Total == 8
spawn A
A mmap h 4M hugetlb
A write h 4M 0x33
A write h+2M "second"
let h = A pfn h
expect page show $h zone == Movable
expect kpageflags $h has huge,anon
A fork B
file F 2M hugetlb
A mmap f 2M file=F shared
A write f "file huge"
let fp = A pfn f
expect page show $fp zone == Movable
# An exclusive folio with a pin on it (a pin of a shared one would unshare
# it first).
A mmap pinned 2M hugetlb
A write pinned 2M 0x55
let pp = A pfn pinned
expect meminfo HugePages_Free == 4
A gup g pinned 4K pin
expect sysfs write devices/system/memory/memory15/state offline signal_after=100ms fails EINTR
expect A pfn pinned == $pp
# The loop moved what it could meanwhile; the attempt's end does not undo
# that, and the free folios were not dissolved (that comes after the scan).
expect A pfn h != $h
expect meminfo HugePages_Total == 8
release g
sysfs write devices/system/memory/memory15/state offline
expect A pfn h != $h
let h2 = A pfn h
expect B pfn h == $h2
expect page show $h2 zone != Movable
expect kpageflags $h2 has huge,anon
expect A read h 4K == 0x33
expect B read h+2M 6 == "second"
expect A pfn f != $fp
expect A read f 9 == "file huge"
expect A pfn pinned != $pp
expect A read pinned 2M == 0x55
# Four folios in use, moved; four free ones dissolved.
expect meminfo HugePages_Total == 4
expect meminfo HugePages_Free == 0
# With the pool empty, a COW of the shared folio has nothing to copy into
# (the kernel's SIGBUS).
expect B write h 4K 0x44 fails EFAULT
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
check
# The file keeps its folio; the others are back in the pool.
expect meminfo HugePages_Free == 3
