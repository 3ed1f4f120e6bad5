# mremap() (mm/mremap.c): a mapping grows in place when it can and moves
# when it cannot (MREMAP_MAYMOVE); with MREMAP_FIXED a part of it moves onto
# another mapping's address, which is unmapped first. The pages stay where
# they are — only their page-table entries move, swap entries included — so
# the bytes, the file offset of a file mapping and the sharing of shared
# memory follow the move, and the reverse map still finds every page (the
# offline at the end migrates them at their new addresses).
machine ram=2G movable=128M swap=64M hugepages=4
spawn P
P mmap a 8K
P mmap b 4K
P write a "page a"
P write a+4K "page a2"
P write b "page b"
let pa = P pfn a
# b lies right after a: a cannot grow in place, so it moves.
let before = P mremap a 8K
expect P mremap a 16K != $before
expect P pfn a == $pa
expect P read a 6 == "page a"
expect P read a+4K 7 == "page a2"
expect P read a+8K 8K == 0x00
expect P read b 6 == "page b"
# A swap entry moves like any other.
P madvise a pageout 0 4K
expect P smaps a == rss_kb=4 anon_huge_kb=0 swap_kb=4 hugetlb_kb=0
P mmap c 4K none
P mremap a 4K 0 4K to=c
expect P read c 6 == "page a"
expect P read a 4K fails EFAULT
expect P read a+4K 7 == "page a2"
# A file mapping keeps its file offset.
file F 16K
P mmap f 16K file=F shared
P write f+8K "file page 2"
P mmap g 8K none
P mremap f 8K 8K 8K to=g
expect P read g 11 == "file page 2"
P mmap f2 16K file=F private
P write g+4K "via g"
expect P read f2+12K 5 == "via g"
# hugetlb moves in whole huge pages and never grows.
P mmap h 4M hugetlb
P write h 4M 0x33
P mmap h2 2M none
P mremap h 2M 2M 2M to=h2
expect P read h2 2M == 0x33
expect P mremap h2 4M fails EINVAL
# Shared memory stays shared with the child after the move.
P mmap s 8K anon shared
P fork C
C write s+4K "shared"
P mmap s2 4K none
P mremap s 4K 4K 4K to=s2
expect P read s2 6 == "shared"
C write s+4K "again!"
expect P read s2 6 == "again!"
# The kernel's checks.
expect P mremap b 0 fails EINVAL
expect P mremap b 4K to=b fails EINVAL
P mmap two 8K
P mprotect two ro 4K 4K
P mmap two_dst 8K none
expect P mremap two 8K 0 8K to=two_dst fails EFAULT
# (mremap_to() unmapped the destination before it found the VMA boundary.)
expect P read two_dst 1 fails EFAULT
check
sysfs write devices/system/memory/memory15/state offline
expect P read c 6 == "page a"
expect P read a+4K 7 == "page a2"
expect P read g 11 == "file page 2"
expect C read s+4K 6 == "again!"
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
