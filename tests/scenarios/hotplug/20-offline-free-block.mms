# Reference §10 case 20: offlining a block whose pages are all free succeeds;
# managed -32768; its sections lose SECTION_IS_ONLINE; kpageflags reads 0 for
# its PFNs (7.2 kpage_read of a PFN without an online memmap).
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
expect zoneinfo 0 Movable managed == 32768
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect sysfs read devices/system/memory/memory32/online == 0
expect zoneinfo 0 Movable managed == 0
expect zoneinfo 0 Movable present == 0
expect zoneinfo 0 Movable spanned == 0
expect section 32 online == 0
expect section 32 present == 1
expect pfn_to_online_page 0x100000 == 0
expect kpageflags 0x100000 == ""
expect kpagecount 0x100000 == 0
# Boot memory offlines the same way.
sysfs write devices/system/memory/memory9/state offline
expect zoneinfo 0 DMA32 managed == 479232
check
