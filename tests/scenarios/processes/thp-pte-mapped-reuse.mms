# 7.2 wp_can_reuse_anon_folio() -> __wp_can_reuse_large_anon_folio() ("mm:
# CONFIG_MM_ID", "mm/memory: reuse exclusive large anonymous folios in wp
# fault", 6.15): a write fault on a page of a PTE-mapped large anonymous
# folio reuses it — sets PG_anon_exclusive on that page and makes that one
# PTE writable — when every reference of the folio is a mapping and every
# mapping is in this mm (the folio is not "maybe mapped shared"). 6.12
# always copied such a page.
machine ram=1G
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
let head = P pfn mem
# mprotect of one page PTE-maps the THP (__split_huge_pmd()).
P mprotect mem ro 4K 4K
P mprotect mem rw 4K 4K
expect P smaps mem == rss_kb=2048 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
let a = P pfn mem+8K
let b = P pfn mem+12K
# While the child maps the folio too, a write copies.
P fork C
P write mem+8K 1 0x02
expect P pfn mem+8K != $a
expect C read mem+8K 1 == 0x01
C exit
# Mapped by P alone again, with no other reference: reuse.
P write mem+12K 1 0x03
expect P pfn mem+12K == $b
expect P pte mem+12K == present=1 writable=1 anon_exclusive=1 pfn=$b
# Only the faulting PTE changed; its neighbour waits for its own fault.
let c = P pfn mem+16K
expect P pte mem+16K == present=1 writable=0 anon_exclusive=0 pfn=$c
# An extra reference (FOLL_GET, as vmsplice takes) forbids reuse.
P gup g mem+1M 4K get
let d = P pfn mem+20K
P write mem+20K 1 0x04
expect P pfn mem+20K != $d
release g
let e = P pfn mem+24K
P write mem+24K 1 0x05
expect P pfn mem+24K == $e
expect P read mem 4K == 0x01
expect P read mem+12K 1 == 0x03
expect kpageflags $head has thp,compound_head
check
P exit
check
