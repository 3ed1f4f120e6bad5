# Reference §10 case 17: an online_page_callback that keeps a 2 MiB range back
# leaves those 512 pages PageOffline with refcount 1 (unmanaged): managed
# pages grow by 32768 - 512, present pages by 32768.
machine ram=2G
hotplug add 0x100000000 128M
online_page_callback set keep2m keep=0x100200000,2M
sysfs write devices/system/memory/memory32/state online_movable
expect zoneinfo 0 Movable present == 32768
expect zoneinfo 0 Movable managed == 32256
expect kpageflags 0x100200 == offline
expect kpageflags 0x1003ff == offline
expect kpagecount 0x100200 == 0
expect page show 0x100200 == flags=0x0 type=offline refcount=1 mapcount=0 zone=Movable node=0
expect kpageflags 0x100400 == buddy
expect kpageflags 0x1001ff == buddy
online_page_callback restore keep2m
check
