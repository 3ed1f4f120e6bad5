# KSM refuses pages it cannot write-protect (write_protect_page()): a page
# with a FOLL_GET reference (refcount beyond its mappings) and a pinned
# exclusive page (folio_try_share_anon_rmap_pte fails) stay where they are;
# a read-only pin of a KSM page unshares it first (it is never exclusive).
# A page that cannot merge still sits in the unstable tree for the scan
# (unstable_tree_search_insert() does not look at references), so the
# page with the GUP reference, scanned first, keeps the others from
# merging with it.
machine ram=1G
spawn A
A mmap a 12K
A write a 12K 0x33
A madvise a mergeable
A gup g a 4K get
A gup p a+8K 4K pin
let pinned = A pfn a+8K
# The first scan records checksums (cmp_and_merge_page()).
expect ksm run == pages_shared=0 pages_sharing=0
expect ksm run == pages_shared=0 pages_sharing=0
expect A pfn a+8K == $pinned
release g
expect ksm run == pages_shared=1 pages_sharing=1
let k = A pfn a+4K
expect A pfn a == $k
expect A pfn a+8K == $pinned
release p
expect ksm run == pages_shared=1 pages_sharing=2
expect A pfn a+8K == $k
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
