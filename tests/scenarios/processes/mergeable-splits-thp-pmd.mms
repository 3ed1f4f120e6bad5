# __split_vma() -> vma_adjust_trans_huge(): MADV_MERGEABLE on part of a
# PMD-mapped THP splits the VMA, and the PMD across the new boundaries
# first. It used to split the VMA only: one PMD counted by three VMAs, wrong
# mapcounts after fork, and 2 MiB leaked at exit.
machine ram=1G
spawn A
A mmap buf 2M thp
A write buf 2M 0xaa
expect A smaps buf == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
A madvise buf mergeable 4K 4K
expect A smaps buf == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
let f = A pfn buf+4K
expect kpagecount $f == 1
A fork B
expect kpagecount $f == 2
expect B read buf+4K 4K == 0xaa
check
B exit
A exit
check
