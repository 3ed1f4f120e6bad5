# do_swap_page() restores exclusivity from the swap PTE: an exclusive page
# swapped out and faulted back in by its only user is PG_anon_exclusive and
# writable at once, on a read fault too ("Same logic as in do_wp_page()":
# only the dirty bit is the write fault's), so its first write takes no
# fault.
machine ram=1G swap=64M
spawn P
P mmap mem 8K
P write mem 8K 0x42
P madvise mem pageout
expect P read mem 4K == 0x42
let page = P pfn mem
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$page
P write mem+4K 4K 0x43
let page2 = P pfn mem+4K
expect P pte mem+4K == present=1 writable=1 anon_exclusive=1 pfn=$page2
# A pinned page is not swapped out (try_to_unmap backs off).
P gup p mem 4K pin
P madvise mem pageout 0 4K
expect P pagemap mem == present=1 swapped=0 exclusive=1 pfn=$page
release p
check
# With soft-dirty tracking on (clear_refs), a page swapped out clean comes
# back read-only, so the next write is seen (pte_needs_soft_dirty_wp()); the
# swap entry keeps the soft-dirty bit, so a dirty one comes back writable.
P clear_refs
P madvise mem pageout
expect P read mem 4K == 0x42
# rmqueue_pcplist() takes the hottest page: the one pageout freed last, mem+4K's.
expect P pte mem == present=1 writable=0 anon_exclusive=1 pfn=$page2
P write mem 1 0x44
P madvise mem pageout
expect P read mem 1 == 0x44
let page3 = P pfn mem
expect P pte mem == present=1 writable=1 anon_exclusive=1 pfn=$page3
# A swapped-out THP (split by reclaim) comes back the same way.
P mmap t 2M thp
P write t 2M 0x45
P madvise t pageout
expect P smaps t == rss_kb=0 anon_huge_kb=0 swap_kb=2048 hugetlb_kb=0
expect P read t+1M 4K == 0x45
let tpage = P pfn t+1M
expect P pte t+1M == present=1 writable=1 anon_exclusive=1 pfn=$tpage
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
