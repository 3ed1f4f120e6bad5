# hugetlb reservations (mm/hugetlb.c): mmap reserves, the first fault
# consumes, munmap and exit give back what was not consumed, and a shared
# hugetlbfs range is reserved once in its inode's map however many
# processes map it. `mmsim run --host` agrees line by line.
machine ram=1G hugepages=4
spawn P
# hugetlb_reserve_pages(): a private mapping reserves every 2 MiB page.
P mmap a 4M hugetlb
expect meminfo HugePages_Free == 4
expect meminfo HugePages_Rsvd == 2
# gather_surplus_pages() without overcommit: 3 more do not fit in the 2
# free pages nobody reserved.
expect P mmap big 6M hugetlb fails ENOMEM
expect meminfo HugePages_Rsvd == 2
P mmap b 4M hugetlb
expect meminfo HugePages_Rsvd == 4
# The hstate's sysfs files say the same (mm/hugetlb_sysfs.c; read-only).
expect sysfs read kernel/mm/hugepages/hugepages-2048kB/resv_hugepages == 4
expect sysfs read kernel/mm/hugepages/hugepages-2048kB/surplus_hugepages == 0
expect sysfs write kernel/mm/hugepages/hugepages-2048kB/resv_hugepages 0 fails EACCES
expect P mmap c 2M hugetlb fails ENOMEM
# The first touch consumes the reservation: Free and Rsvd both drop.
P write a 4K 0x01
expect meminfo HugePages_Free == 3
expect meminfo HugePages_Rsvd == 3
# A second touch of the same page takes nothing.
P write a+4K 4K 0x02
expect meminfo HugePages_Rsvd == 3
# hugetlb_vm_op_close(): the page goes back to the pool, and so does the
# reservation of a+2M, never consumed.
P munmap a
expect meminfo HugePages_Free == 4
expect meminfo HugePages_Rsvd == 2
P mmap e 2M hugetlb
expect meminfo HugePages_Rsvd == 3
# A child owns no reservation (reset_vma_resv_huge_pages()): its first
# touch takes the one free page nobody reserved; then every free page is
# reserved for P and the child's next first touch fails (SIGBUS, the
# model's EFAULT).
P fork C
C write b 4K 0x03
expect meminfo HugePages_Free == 3
expect meminfo HugePages_Rsvd == 3
expect C write b+2M 4K 0x04 fails EFAULT
expect C touch e fails EFAULT
# The parent's reservations hold.
P write b+2M 4K 0x05
expect meminfo HugePages_Free == 2
expect meminfo HugePages_Rsvd == 2
C exit
expect meminfo HugePages_Free == 3
P munmap b
expect meminfo HugePages_Free == 4
expect meminfo HugePages_Rsvd == 1
P munmap e
expect meminfo HugePages_Rsvd == 0
# A hugetlbfs file mapped shared: its inode's map reserves the range once.
file F 4M hugetlb
P mmap s 4M file=F shared
expect meminfo HugePages_Rsvd == 2
spawn Q
Q mmap s 4M file=F shared
expect meminfo HugePages_Rsvd == 2
Q write s 4K 0x06
expect meminfo HugePages_Free == 3
expect meminfo HugePages_Rsvd == 1
expect P read s 4K == 0x06
expect meminfo HugePages_Free == 3
# Shared anonymous hugetlb memory: its own file, reserved once for the
# mapper and the child that inherits it.
P mmap sh 2M shared hugetlb
expect meminfo HugePages_Rsvd == 2
P fork D
expect meminfo HugePages_Rsvd == 2
D write sh 4K 0x07
expect meminfo HugePages_Free == 2
expect meminfo HugePages_Rsvd == 1
expect P read sh 4K == 0x07
D exit
P exit
Q exit
# The last mapping of the anonymous file went (hugetlb_unreserve_pages()
# at its eviction); the hugetlbfs file F lives on with its page and the
# reservation of the page never faulted in.
expect meminfo HugePages_Free == 3
expect meminfo HugePages_Rsvd == 1
check
