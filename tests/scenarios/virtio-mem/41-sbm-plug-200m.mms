# Reference kernel-hotplug §10 case 41 (virtio_mem_sbm_plug_request,
# virtio_mem_sbm_plug_and_add_mb): requested_size 0 -> 200 MiB with 2 MiB
# device blocks in 128 MiB memory blocks (SBM, 64 sub-blocks a block).
# Block A is plugged whole and added OFFLINE; block B gets 36 sub-blocks and
# is added OFFLINE_PARTIAL. The states are set before add_memory(), so the
# auto-online policy (offline here) leaves both offline until a user onlines.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M
expect virtio-mem show vm0 plugged_size == 0
expect virtio-mem driver vm0 mode == sbm
expect virtio-mem driver vm0 unit == 2097152
virtio-mem resize vm0 200M
expect virtio-mem show vm0 == block_size=2097152 addr=4294967296 region_size=1073741824 usable_region_size=478150656 plugged_size=209715200 requested_size=209715200
expect virtio-mem driver vm0 plugged_size == 209715200
expect virtio-mem driver vm0 memory32 == OFFLINE 64/64
expect virtio-mem driver vm0 memory33 == OFFLINE_PARTIAL 36/64
expect sysfs read devices/system/memory/memory32/state == offline
expect sysfs read devices/system/memory/memory33/state == offline
# Both added blocks count as offline memory.
expect virtio-mem driver vm0 offline_size == 268435456
# The device agrees, block by block.
expect virtio-mem request vm0 state 0x100000000 64 == PLUGGED
expect virtio-mem request vm0 state 0x108000000 36 == PLUGGED
expect virtio-mem request vm0 state 0x108000000 64 == MIXED
expect virtio-mem request vm0 state 0x10c800000 28 == UNPLUGGED
# After the user onlines A, the driver tracks it by zone.
sysfs write devices/system/memory/memory32/state online_kernel
expect virtio-mem driver vm0 memory32 == KERNEL 64/64
sysfs write devices/system/memory/memory32/state offline
sysfs write devices/system/memory/memory32/state online_movable
expect virtio-mem driver vm0 memory32 == MOVABLE 64/64
expect virtio-mem driver vm0 offline_size == 134217728
check
