# Reference §10 case 59 (the part a scenario can say): kpage_read() in 7.2
# writes 0 for PFNs without an online memmap and reads nothing past
# round_up(max_pfn, PAGES_PER_SECTION); kpagecount likewise.
machine ram=2G
expect kpageflags 0x7ffff == buddy
expect kpageflags 0x80000 == ""
expect kpagecount 0x80000 == 0
hotplug add 0x100000000 128M
expect kpageflags 0x100000 == ""
sysfs write devices/system/memory/memory32/online 1
expect kpageflags 0x100000 == buddy
kpageflags dump /tmp/mmsim-kpageflags-59.bin
check
