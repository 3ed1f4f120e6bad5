# Reference §10 case 42 (virtio-mem/42-sbm-online-partial-block.mms) under
# memmap_init=reserved (up to 6.10). Memmap init leaves every page PG_reserved;
# virtio_mem_set_fake_offline(onlined=false) then sets PageOffline and PG_dirty
# itself and clears PG_reserved, so what user space sees is what 7.2 shows.
# Had the driver left PG_reserved, has_unmovable_pages() would refuse to
# offline the block.
machine ram=2G block=128M
variant memmap_init=reserved
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M
sysfs write devices/system/memory/memory33/state online_kernel
expect virtio-mem driver vm0 memory33 == KERNEL_PARTIAL 36/64
# The last page of sub-block 35 is free memory, the first of 36 is not.
expect kpageflags 0x10c7ff == buddy
expect kpageflags 0x10c800 == dirty,offline
expect kpagecount 0x10c800 == 0
expect page show 0x10c800 refcount == 1
expect page show 0x10c800 flags == 0x10
expect kpageflags 0x10ffff == dirty,offline
expect zoneinfo 0 Normal present == 32768
expect zoneinfo 0 Normal managed == 18432
expect kcore page 0x10c800 4096 == 0x00
check
# The partial block goes offline: the driver drops the references of its
# fake-offline pages in MEM_GOING_OFFLINE, and no PG_reserved is left to
# stop isolation. Onlining it again runs memmap init (PG_reserved) and the
# driver's callback once more.
sysfs write devices/system/memory/memory33/state offline
expect zoneinfo 0 Normal managed == 0
sysfs write devices/system/memory/memory33/state online_kernel
expect kpageflags 0x10c800 == dirty,offline
expect zoneinfo 0 Normal managed == 18432
# Plugging more: virtio_mem_fake_online() clears PageOffline and PG_dirty
# (virtio_mem_clear_fake_offline) before generic_online_page(), which in
# these kernels cleared only PG_reserved.
virtio-mem resize vm0 256M
expect kpageflags 0x10c800 == buddy
expect zoneinfo 0 Normal managed == 32768
# Unplugging again: alloc_contig_range() and PageOffline without PG_dirty.
virtio-mem resize vm0 200M
expect virtio-mem show vm0 plugged_size == 209715200
check
