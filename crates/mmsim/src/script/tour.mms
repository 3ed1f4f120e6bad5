# The built-in tour of mmsim: `mmsim run` with no file runs this in verbose mode.
# A 2 GiB machine with 128 MiB memory blocks; everything below is Linux 7.2's
# behaviour on x86-64, through the same sysfs strings and errno values.
machine ram=2G block=128M

# The sysfs tree lsmem reads.
expect sysfs read devices/system/memory/block_size_bytes == 8000000
expect sysfs read devices/system/memory/memory0/valid_zones == none
expect sysfs read devices/system/memory/memory1/valid_zones == DMA32
zoneinfo 0 DMA32

# Hot-add 256 MiB at 4 GiB: two offline blocks whose memmaps are mapped but
# not yet initialised (pfn_valid, but no online page).
hotplug add 0x100000000 256M
expect sysfs read devices/system/memory/memory32/state == offline
expect sysfs read devices/system/memory/memory32/valid_zones == Normal Movable
expect pfn_valid 0x100000 == 1
expect pfn_to_online_page 0x100000 == 0

# Online one block to ZONE_MOVABLE: every page is a free buddy page.
sysfs write devices/system/memory/memory32/state online_movable
expect sysfs read devices/system/memory/memory32/valid_zones == Movable
expect kpageflags 0x100000 has buddy
zoneinfo 0 Movable
expect sysfs write devices/system/memory/memory32/state online fails EINVAL

# A memory notifier vetoes onlining the other block: NOTIFY_BAD is -EPERM.
notifier add veto going_online=bad
expect sysfs write devices/system/memory/memory33/state online fails EPERM
expect notifier log veto == MEM_GOING_ONLINE MEM_CANCEL_ONLINE
notifier remove veto

# A driver page that keeps its reference blocks offlining with -EBUSY ...
let p = page alloc balloon pfn=0x100200
page mark balloon offline
expect kpageflags $p has offline
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
# ... a page with movable_ops is migrated out instead.
page free balloon
page alloc mover pfn=0x100200
page mark mover movable_ops
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect kpageflags 0x100000 == ""

# Remove the memory again; its memmap is freed and the blocks disappear.
hotplug remove 0x100000000 256M
expect pfn_valid 0x100000 == 0
expect sysfs ls devices/system/memory/memory32 fails ENOENT

# Processes. Their pages come from ZONE_MOVABLE when there is one.
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
spawn A
A mmap buf 1M
A write buf 1M 0x61
let p = A pfn buf
expect page show $p zone == Movable
expect kpageflags $p has anon,lru,mmap

# fork shares every page read-only and clears PG_anon_exclusive; the first
# write copies, so the child keeps its bytes (do_wp_page).
A fork B
expect A pte buf == present=1 writable=0 anon_exclusive=0 pfn=$p
A write buf 4K 0x62
expect A pfn buf != $p
expect B read buf 4K == 0x61

# A longterm pin never stays in ZONE_MOVABLE: GUP migrates the page first.
A gup dma buf+8K 4K pin longterm
let q = A pfn buf+8K
expect page show $q zone == DMA32

# Offlining the block migrates every remaining user page with its bytes
# (migration entries), and every read agrees with the oracle.
sysfs write devices/system/memory/memory32/state offline
expect B read buf+16K 4K == 0x61
expect A read buf 4 == 0x62
expect dma read 0 4 == 0x61
A write buf+8K 4 0x63
expect dma read 0 4 == 0x63
release dma
check

# Transparent huge pages. A write fault in a THP range maps a 2 MiB folio
# with one PMD (smaps: AnonHugePages); fork shares the PMD, and the
# parent's write splits it into 512 PTEs and copies one page at a time.
A mmap big 2M thp
A write big 2M 0x71
let h = A pfn big
expect kpageflags $h has thp,compound_head,anon
expect A smaps big == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
A fork C
A write big 4K 0x72
expect A smaps big == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect C read big 2M == 0x71
# The child's PMD still maps the THP; MADV_COLLAPSE gives the parent a THP
# again, a copy that it owns exclusively.
A madvise big collapse
expect A smaps big == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
expect A read big 4K == 0x72
expect C read big 4K == 0x71
check

# virtio-mem. The hypervisor offers a 1 GiB region at 8 GiB in 2 MiB device
# blocks and may make unplugged memory inaccessible; Linux's driver talks to
# the device through a virtqueue in guest memory. Asked for 200 MiB, it plugs
# a whole memory block and 36 sub-blocks of the next, and adds both.
virtio-mem add vm0 addr=0x200000000 size=1G block=2M inaccessible
virtio-mem resize vm0 200M
expect virtio-mem show vm0 plugged_size == 209715200
expect virtio-mem driver vm0 memory64 == OFFLINE 64/64
expect virtio-mem driver vm0 memory65 == OFFLINE_PARTIAL 36/64
sysfs write devices/system/memory/memory64/state online_movable
sysfs write devices/system/memory/memory65/state online_movable
# Sub-blocks never plugged stay PageOffline (PG_dirty: never onlined).
expect kpageflags 0x20c800 == dirty,offline
# A process fills memory; much of it lands in the device's ZONE_MOVABLE.
spawn D
D mmap data 64M
D write data 64M 0x5d
# Shrinking: the driver takes sub-blocks back with alloc_contig_range(),
# which migrates the process's pages out, unplugs them, and removes blocks
# that became empty. The bytes stay, and nothing touches unplugged memory.
virtio-mem resize vm0 64M
expect virtio-mem show vm0 plugged_size == 67108864
expect D read data 64M == 0x5d
virtio-mem resize vm0 0
expect virtio-mem show vm0 plugged_size == 0
expect virtio-mem driver vm0 memory64 == UNUSED 0/64
expect D read data 64M == 0x5d
check
