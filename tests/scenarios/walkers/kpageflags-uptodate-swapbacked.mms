# stable_page_flags() copies PG_uptodate and PG_swapbacked. The kernel marks
# a folio uptodate once its contents are there: a new anonymous page or THP
# (__folio_mark_uptodate() in do_anonymous_page()/wp_page_copy()), a
# swapped-in page (swap_read_folio()), a shmem/memfd page-cache page
# (shmem_get_folio()) and a hugetlb folio (hugetlb_no_page()); a folio split
# passes it on to every new folio. shmem folios are swap-backed
# (shmem_alloc_folio()). A 6.18 host shows the same bits: anonymous
# uptodate,lru,mmap,anon,swapbacked,owner_2 (lru once the LRU batch drains),
# a THP adds compound_head,thp, and a memfd page uptodate,dirty,mmap,swapbacked
# (lru too once the batch drains: shmem pages are on the LRU; this model
# does not set PG_dirty on shmem pages yet).
machine ram=1G swap=64M hugepages=2
spawn A
A mmap buf 8K
A write buf 8K 0xaa
let a = A pfn buf
expect kpageflags $a == uptodate,lru,mmap,anon,swapbacked,owner_2
# A COW copy of a private file page.
file f 8K
A mmap p 8K file=f private
A write p 1 0x1
let c = A pfn p
expect kpageflags $c == uptodate,lru,mmap,anon,swapbacked,owner_2
# The memfd page cache.
A mmap s 8K file=f shared
A write s 1 0x1
let d = A pfn s
expect kpageflags $d == uptodate,lru,mmap,swapbacked
# A THP, and its pages once reclaim split it.
A mmap t 2M thp
A write t 2M 0x1
let e = A pfn t
expect kpageflags $e == uptodate,lru,mmap,anon,swapbacked,compound_head,thp,owner_2
A mprotect t ro 4K 4K
A madvise t pageout 0 4K
expect A read t+8K 1 == 0x01
let e2 = A pfn t+8K
expect kpageflags $e2 == uptodate,lru,mmap,anon,swapbacked,owner_2
# Swapped out and read back in.
A madvise buf pageout
expect A read buf 1 == 0xaa
let g = A pfn buf
expect kpageflags $g == uptodate,lru,mmap,anon,swapbacked,owner_2
# hugetlb folios (not swap-backed).
A mmap h 2M hugetlb
A write h 1 0x1
let h = A pfn h
expect kpageflags $h == uptodate,mmap,anon,compound_head,huge,owner_2
A exit
check
