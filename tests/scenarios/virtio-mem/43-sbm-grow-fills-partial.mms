# Reference §10 case 43 (virtio_mem_sbm_plug_any_sb, virtio_mem_fake_online):
# growing to 256 MiB plugs the 28 missing sub-blocks of the online partial
# block first; their pages never went to the buddy (PG_dirty), so they are
# onlined through generic_online_page() and the block becomes KERNEL.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M
sysfs write devices/system/memory/memory33/state online_kernel
expect zoneinfo 0 Normal managed == 18432
virtio-mem resize vm0 256M
expect virtio-mem driver vm0 memory33 == KERNEL 64/64
expect virtio-mem driver vm0 memory32 == OFFLINE 64/64
expect kpageflags 0x10c800 == buddy
expect kpageflags 0x10ffff == buddy
expect zoneinfo 0 Normal managed == 32768
expect virtio-mem show vm0 plugged_size == 268435456
# Nothing new was added: the driver filled the partial block.
expect sysfs ls devices/system/memory == auto_online_blocks block_size_bytes memory0 memory1 memory10 memory11 memory12 memory13 memory14 memory15 memory2 memory3 memory32 memory33 memory4 memory5 memory6 memory7 memory8 memory9
check
