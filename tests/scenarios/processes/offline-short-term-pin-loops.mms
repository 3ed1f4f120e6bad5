# A short-term FOLL_PIN keeps a user page where it is: migration refuses a
# maybe-pinned exclusive page (folio_try_share_anon_rmap), so offlining its
# ZONE_MOVABLE block loops until the writer gets a signal (EINTR). A
# longterm pin never sits in ZONE_MOVABLE: GUP migrates the page out first
# (check_and_migrate_movable_pages), and the block goes offline under it.
machine ram=2G movable=128M
spawn A
A mmap buf 8K
A write buf 8K 0x77
let p0 = A pfn buf
expect page show $p0 zone == Movable
A gup short buf 4K pin
expect sysfs write devices/system/memory/memory15/state offline signal_after=50ms fails EINTR
expect sysfs read devices/system/memory/memory15/state == online
release short
A gup long buf 4K pin longterm
let p1 = A pfn buf
expect page show $p1 zone == DMA32
sysfs write devices/system/memory/memory15/state offline
expect long read 0 4K == 0x77
A write buf 4K 0x78
expect long read 0 4K == 0x78
expect A read buf+4K 4K == 0x77
release long
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
check
