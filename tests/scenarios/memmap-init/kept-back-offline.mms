# memmap_init=offline (7.2; 6.11 on), side by side with kept-back-reserved.mms:
# the same lines, and what differs is marked "differs". A hot-added block is
# onlined through an online_page callback that keeps its first pageblock back
# and does nothing to those pages, as a minimal driver would. What is left on
# them is what memmap_init_range(MEMINIT_HOTPLUG) set: here PageOffline.
machine ram=2G
variant memmap_init=offline
hotplug add 0x100000000 128M
# Added but offline: the memmap exists but is not online; walkers skip it.
expect pfn_valid 0x100010 == 1
expect pfn_to_online_page 0x100010 == 0
expect kpageflags 0x100010 == ""
# Give the kept-back page some bytes first: online, write, free, offline.
# (Offlining leaves the bytes in place, as RAM would.)
sysfs write devices/system/memory/memory32/state online_movable
page alloc hot pfn=0x100010
page fill hot 0x77
page free hot
sysfs write devices/system/memory/memory32/state offline
# Re-online with the callback: memmap_init_range() runs again on the whole
# block, then the callback hands every chunk but the first 2 MiB to
# generic_online_page() -> __free_pages_core(), which clears PageOffline.
online_page_callback set keep keep=0x100000000,2M
sysfs write devices/system/memory/memory32/state online_movable
expect kpageflags 0x100200 == buddy
# differs: the kept-back page is PageOffline with its initial reference.
expect page show 0x100010 type == offline
expect page show 0x100010 refcount == 1
expect kpageflags 0x100010 == offline
expect kpagecount 0x100010 == 0
# differs: /proc/kcore (read_kcore_iter) skips PageOffline pages and returns
# zeros, so the bytes under a page nobody onlined are never read: the
# memory behind it may be unbacked (a balloon, a hypervisor's unplug).
expect kcore page 0x100010 0 8 == 0x00
# The same in both: not managed, and the block cannot go offline, since
# nobody drops the initial reference. 7.2 gets past isolation (PageOffline
# counts as movable when offlining) and fails in scan_movable_pages, a
# PageOffline page with a reference being definitely unmovable.
expect zoneinfo 0 Movable managed == 32256
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect sysfs read devices/system/memory/memory32/state == online
online_page_callback restore keep
kpageflags dump /tmp/mmsim-memmap-init-offline.bin
check
