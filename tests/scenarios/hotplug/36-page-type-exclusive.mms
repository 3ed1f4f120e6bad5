# Reference §10 case 36: a page has at most one type; setting a second type on
# a typed page is refused (VM_BUG_ON in __SetPageX).
machine ram=1G
let p = page alloc x pfn=0x20000
page mark x table
expect page mark x slab fails EINVAL
expect page mark x offline fails EINVAL
expect kpageflags $p == pgtable
# Flags are orthogonal to types.
page mark x reserved
expect kpageflags $p has pgtable,reserved
page free x
# free_unref_page(): on a pcp list, the page is free but not PageBuddy.
expect page show $p == flags=0x0 type=none refcount=0 mapcount=0 zone=DMA32 node=0
drain_all_pages
expect kpageflags $p == buddy
check
