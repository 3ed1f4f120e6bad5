# Reference §10 case 47 (virtio_mem_online_page): re-onlining an
# OFFLINE_PARTIAL block keeps its unplugged sub-blocks PageOffline with
# PG_dirty, refcount 1, whatever zone it goes to.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M
sysfs write devices/system/memory/memory33/state online_kernel
sysfs write devices/system/memory/memory33/state offline
sysfs write devices/system/memory/memory33/state online_movable
expect virtio-mem driver vm0 memory33 == MOVABLE_PARTIAL 36/64
expect kpageflags 0x10c800 == dirty,offline
expect page show 0x10c800 refcount == 1
expect kpageflags 0x10c7ff == buddy
expect zoneinfo 0 Movable managed == 18432
check
