# Issue 9 item 4, the May 2025 proposal (offline_skip=skippable): the same
# steps as offline-skip-refcount-held-reference.mms. Fake-offline pages keep
# refcount 1 and carry PG_offline_skippable (owner_2); MEM_GOING_OFFLINE
# touches no reference, so the kernel user's put only brings the page back
# to 1 and it never reaches the buddy: no WARN, and the next allocation gets
# another page. Without the veto the offline then succeeds.
machine ram=2G block=128M
variant offline_skip=skippable
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M inaccessible
sysfs write devices/system/memory/memory33/state online_movable
expect kpageflags 0x10c800 == dirty,offline,owner_2
page get 0x10c800
expect page show 0x10c800 refcount == 2
notifier add user priority=-1 put=0x10c800
notifier add veto priority=-2 going_offline=EBUSY
expect sysfs write devices/system/memory/memory33/state offline fails EBUSY
expect page show 0x10c800 refcount == 1
expect kpageflags 0x10c800 == dirty,offline,owner_2
spawn A
A mmap buf 4K
A write buf 4K 0x11
expect A pfn buf != 0x10c800
expect A read buf 4K == 0x11
A exit
notifier remove user
notifier remove veto
sysfs write devices/system/memory/memory33/state offline
expect virtio-mem driver vm0 memory33 == OFFLINE_PARTIAL 36/64
check
