# Reference §10 case 46 (virtio_mem_memory_notifier_cb,
# virtio_mem_fake_offline_going_offline/_cancel_offline): a user offlines a
# KERNEL_PARTIAL block. In MEM_GOING_OFFLINE the driver drops the reference
# of every page of its unplugged sub-blocks, so offlining skips them; the
# block becomes OFFLINE_PARTIAL and counts as offline memory. A cancelled
# offline gives the references back.
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M
sysfs write devices/system/memory/memory33/state online_kernel
expect page show 0x10c800 refcount == 1
expect virtio-mem driver vm0 offline_size == 134217728
# A veto after the driver's notifier: MEM_CANCEL_OFFLINE restores the refs.
notifier add veto priority=-1 going_offline=EBUSY
expect sysfs write devices/system/memory/memory33/state offline fails EBUSY
expect notifier log veto == MEM_GOING_OFFLINE MEM_CANCEL_OFFLINE
expect page show 0x10c800 refcount == 1
expect page show 0x10ffff refcount == 1
expect virtio-mem driver vm0 memory33 == KERNEL_PARTIAL 36/64
notifier remove veto
sysfs write devices/system/memory/memory33/state offline
expect virtio-mem driver vm0 memory33 == OFFLINE_PARTIAL 36/64
expect virtio-mem driver vm0 offline_size == 268435456
expect zoneinfo 0 Normal managed == 0
check
