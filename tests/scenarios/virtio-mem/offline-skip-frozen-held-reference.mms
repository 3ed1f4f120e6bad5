# Issue 9 item 4, the future the proposal's comment describes
# (offline_skip=frozen): fake-offline pages are frozen at refcount 0, so a
# speculative get_page_unless_zero() fails and no kernel user can hold one
# across an offline at all.
machine ram=2G block=128M
variant offline_skip=frozen
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M inaccessible
sysfs write devices/system/memory/memory33/state online_movable
expect page show 0x10c800 refcount == 0
expect page get 0x10c800 fails EBUSY
sysfs write devices/system/memory/memory33/state offline
expect virtio-mem driver vm0 memory33 == OFFLINE_PARTIAL 36/64
sysfs write devices/system/memory/memory33/state online_movable
expect kpageflags 0x10c800 == dirty,offline,owner_2
# Unplugging and re-plugging thaws and refreezes as pages change hands.
virtio-mem resize vm0 256M
expect kpageflags 0x10c800 == buddy
virtio-mem resize vm0 200M
expect page show 0x10c800 refcount == 0
check
