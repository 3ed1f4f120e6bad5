# Reference §10 case 10: onlining an offline block succeeds, adds 32768
# managed pages, and with no other activity every page is a free buddy page
# (KPF_BUDDY on every page, kpagecount 0).
machine ram=2G
hotplug add 0x100000000 128M
expect zoneinfo 0 Normal managed == 0
sysfs write devices/system/memory/memory32/state online
expect sysfs read devices/system/memory/memory32/state == online
expect sysfs read devices/system/memory/memory32/online == 1
expect sysfs read devices/system/memory/memory32/valid_zones == Normal
expect zoneinfo 0 Normal managed == 32768
expect zoneinfo 0 Normal present == 32768
expect zoneinfo 0 Normal free == 32768
expect zoneinfo 0 Normal start_pfn == 0x100000
expect kpageflags 0x100000 == buddy
expect kpageflags 0x100001 == buddy
expect kpageflags 0x107fff == buddy
expect kpagecount 0x104321 == 0
expect pfn_to_online_page 0x107fff == 1
expect section 32 online == 1
check
