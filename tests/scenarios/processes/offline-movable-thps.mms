# Offlining a ZONE_MOVABLE block full of THPs: the migration core splits
# each THP (split_huge_page, through migration entries that carry each
# subpage's exclusivity) and migrates its pages one by one, so the bytes,
# the fork sharing and the exclusivity survive, and the oracle stays clean.
# A THP with a pinned page cannot be split or moved, so the offline of its
# block loops until the signal (EINTR).
machine ram=2G movable=128M
spawn A
A mmap buf 64M thp
A write buf 64M 0x5a
A write buf+4K "hello from A"
let first = A pfn buf
expect kpageflags $first has thp,anon,compound_head
expect A smaps buf == rss_kb=65536 anon_huge_kb=65536 swap_kb=0 hugetlb_kb=0
A fork B
B write buf+2M "B's own"
sysfs write devices/system/memory/memory15/state offline
expect sysfs read devices/system/memory/memory15/state == offline
expect A pfn buf != $first
expect A smaps buf == rss_kb=65536 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect A read buf 4K == 0x5a
expect A read buf+4K 12 == "hello from A"
expect B read buf+4K 12 == "hello from A"
expect B read buf+2M 7 == "B's own"
expect A read buf+2M 7 == 0x5a
# Still shared after the move: one page, two mappings, neither exclusive.
let moved = A pfn buf+8K
expect B pfn buf+8K == $moved
expect kpagecount $moved == 2
expect A pte buf+8K == present=1 writable=0 anon_exclusive=0 pfn=$moved
A write buf+8K 4K 0x11
expect B read buf+8K 4K == 0x5a
check
# A pinned THP stays: its block cannot go offline.
sysfs write devices/system/memory/memory15/state online_movable
spawn P
P mmap pinned 2M thp
P write pinned 2M 0x77
let phead = P pfn pinned
expect kpageflags $phead has thp
P gup pin pinned 4K pin
expect sysfs write devices/system/memory/memory15/state offline signal_after=200ms fails EINTR
expect P pfn pinned == $phead
expect P read pinned 2M == 0x77
release pin
sysfs write devices/system/memory/memory15/state offline
expect P pfn pinned != $phead
expect P read pinned 2M == 0x77
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
B exit
P exit
check
