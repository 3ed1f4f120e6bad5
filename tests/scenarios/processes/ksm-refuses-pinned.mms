# KSM refuses pages it cannot write-protect: a pinned exclusive page
# (folio_try_share_anon_rmap_pte fails) and a page with a FOLL_GET reference
# (refcount beyond its mappings) stay where they are; a read-only pin of a
# KSM page unshares it first (it is never exclusive).
machine ram=1G
spawn A
A mmap a 12K
A write a 12K 0x33
A madvise a mergeable
A gup p a 4K pin
A gup g a+4K 4K get
let pinned = A pfn a
expect ksm run == pages_shared=0 pages_sharing=0
expect A pfn a == $pinned
release g
expect ksm run == pages_shared=1 pages_sharing=1
let k = A pfn a+4K
expect A pfn a+8K == $k
expect A pfn a == $pinned
release p
expect ksm run == pages_shared=1 pages_sharing=2
expect A pfn a == $k
A gup r a 4K pin longterm
expect A pfn a != $k
A write a 4K 0x44
expect r read 0 4K == 0x44
release r
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
check
