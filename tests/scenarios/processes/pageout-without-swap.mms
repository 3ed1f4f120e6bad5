# madvise_pageout() -> shrink_folio_list(): without swap space add_to_swap()
# fails, yet MADV_PAGEOUT returns 0 and the anonymous pages stay mapped with
# their bytes; a THP is split first, as reclaim falls back to small folios
# before it gives up (as a 6.18 host without swap shows).
machine ram=1G
spawn A
A mmap buf 8K
A write buf 8K 0xaa
let f = A pfn buf+4K
A madvise buf pageout
expect A pfn buf+4K == $f
expect A pagemap buf+4K == present=1 swapped=0 exclusive=1 pfn=$f
expect A read buf 8K == 0xaa
A mmap t 2M thp
A write t 2M 0xbb
expect A smaps t == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
A madvise t pageout
expect A smaps t == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
expect A read t 2M == 0xbb
A exit
check
