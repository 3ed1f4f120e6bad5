# Reference §10 case 42 (virtio_mem_online_page, virtio_mem_set_fake_offline):
# onlining a partially plugged block gives only the plugged sub-blocks to the
# buddy; the others stay PageOffline with PG_dirty (never onlined) and
# refcount 1, unmanaged, and the block becomes KERNEL_PARTIAL.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M
sysfs write devices/system/memory/memory33/state online_kernel
expect virtio-mem driver vm0 memory33 == KERNEL_PARTIAL 36/64
# The last page of sub-block 35 is free memory, the first of 36 is not.
expect kpageflags 0x10c7ff == buddy
expect kpageflags 0x10c800 == dirty,offline
expect kpagecount 0x10c800 == 0
expect page show 0x10c800 refcount == 1
expect kpageflags 0x10ffff == dirty,offline
# Present counts the whole block, managed only the 36 plugged sub-blocks.
expect zoneinfo 0 Normal present == 32768
expect zoneinfo 0 Normal managed == 18432
# An unplugged sub-block reads as zeros through /proc/kcore (PageOffline).
expect kcore page 0x10c800 4096 == 0x00
check
