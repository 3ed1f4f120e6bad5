# A stable node outlives its KSM page until the next scan prunes it
# (get_ksm_page() finds the page gone). If the page's memory was offlined
# and hot-removed meanwhile — its memmap freed — the scan must not look at
# the page: it asks pfn_to_online_page() first.
machine ram=1G max_phys=16G auto_online=online_movable
hotplug add 0x100000000 128M
spawn A
A mmap buf 8K
A write buf 8K 0x77
A madvise buf mergeable
ksm run
expect ksm run == pages_shared=1 pages_sharing=1
let k = A pfn buf
expect page show $k zone == Movable
A exit
sysfs write devices/system/memory/memory32/state offline
hotplug remove 0x100000000 128M
expect pfn_valid $k == 0
spawn B
B mmap buf 8K
B write buf 8K 0x77
B madvise buf mergeable
ksm run
expect ksm run == pages_shared=1 pages_sharing=1
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
B exit
check
