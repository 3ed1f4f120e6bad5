# Issue 10 item 3: PFN walkers skip device memory (pfn_walker=online_page).
# /proc/kpageflags and /proc/kpagecount read 0 for a ZONE_DEVICE page, and
# /proc/kcore reads zeros there: they find no online page
# (pfn_to_online_page() is NULL for ZONE_DEVICE ), even for a page a process maps
# and wrote, on a device range that shares a boot section with RAM (the
# tainted section: the RAM part beside it is walked as usual).
machine ram=1088M
variant pfn_walker=online_page
expect memremap add pm addr=0x44000000 size=64M type=fsdax == 0x44000
file F 1M dax=pm
spawn A
A mmap f 1M file=F shared
A write f 8K 0x5a
expect A pfn f == 0x44000
expect A read f 8K == 0x5a
expect pfn_to_online_page 0x44000 == 0
expect kpageflags 0x44000 == ""
expect kpagecount 0x44000 == 0
expect kcore page 0x44000 4096 == 0x00
# The RAM just below, in the same section, is an ordinary page.
expect pfn_to_online_page 0x43fff == 1
expect kpageflags 0x43fff has buddy
# Device-private memory has no bytes and no online page either.
expect memremap add dev addr=0 size=2M type=private == 0x10000000
expect pfn_to_online_page 0x10000000 == 0
expect kpageflags 0x10000000 == ""
expect kcore page 0x10000000 16 == 0x00
A exit
memremap remove pm
memremap remove dev
expect kpageflags 0x44000 == ""
check
