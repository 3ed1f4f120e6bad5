# Issue 9 acceptance, item 4: the 16 GiB scenario (acceptance-16g-resize.mms)
# with a kernel user holding a speculative reference on one of the driver's
# fake-offline pages and dropping it while the driver offlines that block,
# under the May 2025 PG_offline_skippable proposal: nothing goes wrong.
# Compare acceptance-16g-held-reference-refcount.mms.
machine ram=4G block=128M auto_online=online_movable swap=256M
variant offline_skip=skippable
# A 16 GiB virtio-mem device at 8 GiB with 2 MiB blocks; unplugged memory is
# inaccessible. Its memory is onlined to ZONE_MOVABLE as it is added.
virtio-mem add vm0 addr=0x200000000 size=16G block=2M inaccessible
virtio-mem resize vm0 16258M
expect virtio-mem show vm0 plugged_size == 17047748608
expect virtio-mem driver vm0 memory190 == MOVABLE 64/64
expect virtio-mem driver vm0 memory191 == MOVABLE_PARTIAL 1/64
virtio-mem resize vm0 16G
expect virtio-mem show vm0 plugged_size == 17179869184
expect virtio-mem driver vm0 memory191 == MOVABLE 64/64
# User memory of every kind lands in the device's ZONE_MOVABLE.
spawn A
A mmap anon 256M
A write anon 256M 0xa1
A mmap huge 64M thp
A write huge 64M 0xa2
file F 64M
A mmap f 64M file=F shared
A write f 64M 0xf1
A mmap fp 16M file=F private
A write fp 8M 0xf2
A mmap sh 32M anon shared
A write sh 32M 0x5a
A mmap k 16M
A madvise k mergeable
A write k 16M 0x33
ksm run
ksm run
sysfs write kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 16
A mmap h 16M hugetlb
A write h 16M 0x48
A fork B
B write anon 4M 0xb1
B write sh 4K 0x5b
A mmap sw 8M
A write sw 8M 0x77
A madvise sw pageout
balloon inflate 512M
# Shrink to half, then to a partial block at the end.
virtio-mem resize vm0 8G
expect virtio-mem show vm0 plugged_size == 8589934592
expect A read anon 4M == 0xa1
expect B read anon 4M == 0xb1
virtio-mem resize vm0 130M
expect virtio-mem show vm0 plugged_size == 136314880
expect virtio-mem driver vm0 memory64 == MOVABLE 64/64
expect virtio-mem driver vm0 memory65 == MOVABLE_PARTIAL 1/64
# A kernel user holds a speculative reference on one of the driver's
# fake-offline pages and drops it while the driver offlines that block.
page get 0x208200
notifier add user priority=-1 put=0x208200 range=0x208000000,128M
# PG_offline_skippable: the driver touches no reference; the user's put only
# takes the page back to the driver's 1, and the offline is clean.
virtio-mem resize vm0 0
expect virtio-mem show vm0 plugged_size == 0
expect virtio-mem request vm0 state 0x200000000 8192 == UNPLUGGED
expect virtio-mem driver vm0 memory64 == UNUSED 0/64
expect virtio-mem driver vm0 memory191 == UNUSED 0/64
expect virtio-mem driver vm0 timer == none
# Every byte survived every migration.
expect A read anon 256M == 0xa1
expect A read huge 64M == 0xa2
expect A read f 64M == 0xf1
expect A read fp 8M == 0xf2
expect A read fp+8M 8M == 0xf1
expect B read sh 4K == 0x5b
expect A read sh+4K 32764K == 0x5a
expect A read k 16M == 0x33
expect A read h 16M == 0x48
expect A read sw 8M == 0x77
expect B read anon 4M == 0xb1
expect B read anon+4M 252M == 0xa1
expect B read huge 64M == 0xa2
expect B read h 16M == 0x48
expect balloon show pages == 131072
balloon deflate 512M
A exit
B exit
sysfs write kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 0
check
