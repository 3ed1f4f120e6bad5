# Offlining a ZONE_MOVABLE block migrates KSM pages (issue 9 item 7). A KSM
# page has no single anon_vma: its stable node's rmap items — the anon_vma
# and address of each mapping a merge made — find every mapping, a forked
# child's included (rmap_walk_ksm()), each becomes a migration entry, and
# the stable node points at the new page afterwards (folio_migrate_ksm()), so
# the next scan keeps merging into it. A reference beyond the mappings (the
# FOLL_GET reference vmsplice holds) keeps the page where it is.
machine ram=2G movable=128M
spawn A
A mmap buf 16K
A write buf 16K 0x77
A madvise buf mergeable
A fork B
B mmap own 8K
B write own 8K 0x77
B madvise own mergeable
ksm run
expect ksm run == pages_shared=1 pages_sharing=9
let k = A pfn buf
expect kpageflags $k has ksm
expect B pfn own+4K == $k
expect kpagecount $k == 10
expect page show $k zone == Movable
B gup g buf+4K 4K get
expect sysfs write devices/system/memory/memory15/state offline signal_after=100ms fails EINTR
expect A pfn buf == $k
release g
sysfs write devices/system/memory/memory15/state offline
let k2 = A pfn buf
expect A pfn buf+12K == $k2
expect B pfn buf == $k2
expect B pfn own == $k2
expect kpageflags $k2 has ksm
expect kpagecount $k2 == 10
expect page show $k2 zone != Movable
# The stable node moved: a new identical page merges into the new page.
B mmap more 4K
B write more 4K 0x77
B madvise more mergeable
ksm run
expect ksm run == pages_shared=1 pages_sharing=10
expect B pfn more == $k2
# A write still breaks sharing (a KSM page is never exclusive).
A write buf 1 0x11
expect B read buf 4K == 0x77
expect A read buf+1 4095 == 0x77
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
check
