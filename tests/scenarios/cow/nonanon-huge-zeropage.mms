# cow.c non-anonymous cases on the huge zero page ("... with huge zeropage"):
# a read fault in a THP-enabled range maps the huge zero folio with one
# read-only PMD. "Basic COW": the write to the private mapping replaces it
# with a fresh THP (do_huge_zero_wp_pmd), and the other mapping of the huge
# zero page still reads zeros. "R/O longterm GUP pin" (slow and fast):
# gup_must_unshare() for a non-anonymous page in a COW mapping unshares first
# (GUP-fast backs off on the special PMD), so the pin sees the later write.
machine ram=1G
spawn P
P mmap mem 2M thp
P mmap smem 2M thp ro
P touch mem
P touch smem
let hzero = P pfn smem
expect P pfn mem == $hzero
expect kpageflags $hzero has zero_page,thp,compound_head
expect P smaps smem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=0
P write mem 2M 0xff
expect P pfn mem != $hzero
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
expect P read smem 2M == 0x00
expect kcore page $hzero 0 4K == 0x00
P mmap mem2 2M thp
P touch mem2
expect P pfn mem2 == $hzero
P gup p mem2 2M pin longterm
expect P pfn mem2 != $hzero
P write mem2 2M 0x5a
expect p read 0 2M == 0x5a
release p
P mmap mem3 2M thp
P touch mem3
P gup q mem3 2M pin longterm fast
expect P pfn mem3 != $hzero
P write mem3 2M 0x6b
expect q read 0 2M == 0x6b
release q
expect P read smem 2M == 0x00
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
