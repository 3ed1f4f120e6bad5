# The hugetlb pool grows at run time (nr_hugepages, set_max_huge_pages())
# with movable folios, so it can live in virtio-mem memory onlined to
# ZONE_MOVABLE; unplugging migrates an in-use hugetlb folio out
# (unmap_and_move_huge_page) and its bytes stay.
machine ram=2G block=128M auto_online=online_movable
virtio-mem add vm0 addr=0x100000000 size=1G block=2M inaccessible requested=256M
expect sysfs read kernel/mm/hugepages/hugepages-2048kB/nr_hugepages == 0
expect sysfs ls kernel/mm/hugepages/hugepages-2048kB == free_hugepages nr_hugepages resv_hugepages surplus_hugepages
sysfs write kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 8
expect sysfs read kernel/mm/hugepages/hugepages-2048kB/free_hugepages == 8
expect meminfo HugePages_Total == 8
spawn A
A mmap h 8M hugetlb
A write h 8M 0x48
expect A pfn h == 0x100e00
virtio-mem resize vm0 0
expect virtio-mem show vm0 plugged_size == 0
expect A read h 8M == 0x48
expect A pfn h != 0x100e00
expect sysfs write kernel/mm/hugepages/hugepages-2048kB/nr_hugepages x fails EINVAL
expect sysfs write kernel/mm/hugepages/hugepages-2048kB/free_hugepages 1 fails EACCES
sysfs write kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 4
expect sysfs read kernel/mm/hugepages/hugepages-2048kB/nr_hugepages == 4
A exit
sysfs write kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 0
check
