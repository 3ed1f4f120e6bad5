# memmap_init=reserved (the kernels up to 6.10), side by side with
# kept-back-offline.mms: the same lines, and what differs is marked
# "differs". memmap_init_range(MEMINIT_HOTPLUG) set PG_reserved on every
# hot-added page, and generic_online_page() -> __free_pages_core() cleared
# it; a page an online_page callback keeps back and does nothing to stays
# PG_reserved with its initial reference.
machine ram=2G
variant memmap_init=reserved
hotplug add 0x100000000 128M
# Added but offline: the memmap exists but is not online; walkers skip it.
expect pfn_valid 0x100010 == 1
expect pfn_to_online_page 0x100010 == 0
expect kpageflags 0x100010 == ""
# Give the kept-back page some bytes first: online, write, free, offline.
sysfs write devices/system/memory/memory32/state online_movable
page alloc hot pfn=0x100010
page fill hot 0x77
page free hot
sysfs write devices/system/memory/memory32/state offline
# Re-online with the callback: memmap_init_range() runs again (PG_reserved
# on the whole block), then __free_pages_core() clears PG_reserved on every
# chunk the callback gives to the buddy.
online_page_callback set keep keep=0x100000000,2M
sysfs write devices/system/memory/memory32/state online_movable
expect kpageflags 0x100200 == buddy
# differs: the kept-back page has no type, only PG_reserved (0x2000 is bit
# 13 of page->flags in the model) and its initial reference.
expect page show 0x100010 type == none
expect page show 0x100010 flags == 0x2000
expect page show 0x100010 refcount == 1
# differs: kpageflags shows RESERVED (bit 32, a kernel-hacking bit that
# page-types hides without -r: there the page counts as flags 0, like a hole
# or an offline section), not OFFLINE (bit 23).
expect kpageflags 0x100010 == reserved
expect kpagecount 0x100010 == 0
# differs: /proc/kcore skips PageOffline pages, not PG_reserved ones (nor do
# hibernation's saveable_page() or makedumpfile), so it reads the bytes
# under a page nobody onlined. A driver whose kept-back memory might be
# unbacked had to set PageOffline itself (Hyper-V's balloon and virtio-mem
# did); this callback does not, and kcore copies what is left there.
expect kcore page 0x100010 0 8 == 0x77
# The same in both: not managed, and the block cannot go offline. Here it
# fails earlier, at isolation: has_unmovable_pages() stops at any
# PG_reserved page, even in ZONE_MOVABLE.
expect zoneinfo 0 Movable managed == 32256
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect sysfs read devices/system/memory/memory32/state == online
online_page_callback restore keep
kpageflags dump /tmp/mmsim-memmap-init-reserved.bin
check
