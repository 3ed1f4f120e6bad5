# The scenario behind the picture in README.md (`mmsim map docs/map-example.mms`):
# boot RAM with a movable tail, processes with anonymous memory, THPs,
# hugetlb and a file, and a virtio-mem device with one block onlined and
# one partly plugged and still offline.
machine ram=1G movable=256M hugepages=32
virtio-mem add vm0 addr=0x100000000 size=1G block=2M
virtio-mem resize vm0 200M
sysfs write devices/system/memory/memory32/state online_movable
spawn A
A mmap heap 48M
A write heap 48M 0x5a
A mmap big 64M thp
A write big 64M 0xa5
spawn B
B mmap huge 32M hugetlb
B write huge 32M 0x11
file F 24M
B mmap f 24M file=F shared
B write f 24M 0x22
expect sysfs read devices/system/memory/memory33/state == offline
