# The PFNs that crates/mmsim-cli/tests/mount.rs looks up with
# `page-types -F DIR/proc/kpageflags` (tools/mm/page-types.c, reference §8.2)
# through `mmsim mount`: the tool must find exactly these flags. The same
# pages as case 60 of reference §10.
machine ram=1G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_kernel
page alloc pt pfn=0x100800
page mark pt table
page alloc off pfn=0x100c00
page mark off offline
expect kpageflags 0x100400 == buddy
expect kpageflags 0x100800 == pgtable
expect kpageflags 0x100c00 == offline
expect kpageflags 0x0 == reserved
expect kpageflags 0x1000 == zero_page,reserved
