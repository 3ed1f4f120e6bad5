# Reference §10 case 57: /proc/kcore (read_kcore_iter, KCORE_RAM) returns
# zeros for a PageOffline page, a hwpoisoned page, an offline section and a
# hole, and the real content otherwise.
machine ram=2G
page alloc buf pfn=0x20000 nr=2
page fill buf 0xaa
expect kcore page 0x20000 0 16 == 0xaa
expect kcore read 0x20000ff0 32 == 0xaa
page mark buf offline
expect kcore page 0x20000 0 16 == 0x00
expect kcore read 0x20000ff0 32 == 0x00
# A hwpoisoned page reads as zeros whatever it holds.
page alloc hw pfn=0x20002
page fill hw 0x55
expect kcore page 0x20002 4000 4 == 0x55
hwpoison 0x20002
expect kcore page 0x20002 4000 4 == 0x00
# The legacy hole is not System RAM; the page below it is.
page alloc low pfn=0x9f
page fill low 0x11
expect kcore page 0x9f 0 8 == 0x11
expect kcore read 0xa0000 16 == 0x00
# An offline section reads as zeros though its bytes are still there.
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
page alloc hot pfn=0x100010
page fill hot 0x77
expect kcore page 0x100010 0 8 == 0x77
page free hot
sysfs write devices/system/memory/memory32/state offline
expect kcore page 0x100010 0 8 == 0x00
sysfs write devices/system/memory/memory32/state online_movable
expect kcore page 0x100010 0 8 == 0x77
check
