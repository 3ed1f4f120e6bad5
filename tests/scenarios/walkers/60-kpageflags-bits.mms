# Reference §10 case 60: every page inside an order-10 free block has
# KPF_BUDDY (bit 10, via is_free_buddy_page); a page-table page has
# KPF_PGTABLE (bit 26); a PageOffline page has KPF_OFFLINE (bit 23) and
# mapcount 0 in /proc/kpagecount.
machine ram=1G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_kernel
expect kpageflags 0x100400 == buddy
expect kpageflags 0x100401 == buddy
expect kpageflags 0x1005ff == buddy
expect kpageflags 0x1007ff == buddy
expect kpagecount 0x1007ff == 0
page alloc pt pfn=0x100800
page mark pt table
expect kpageflags 0x100800 == pgtable
expect kpageflags 0x100801 == buddy
page alloc off pfn=0x100c00
page mark off offline
expect kpageflags 0x100c00 == offline
expect kpagecount 0x100c00 == 0
# Boot pages reserved by memblock carry KPF_RESERVED (bit 32).
expect kpageflags 0x0 == reserved
expect kpageflags 0x1001 == reserved
# The shared zero page is a reserved page of the kernel image.
expect kpageflags 0x1000 == zero_page,reserved
check
