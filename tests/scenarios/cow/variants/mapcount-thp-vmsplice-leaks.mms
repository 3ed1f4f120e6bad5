# cow_reuse=mapcount on a PMD-mapped THP: before 5.8, do_huge_pmd_wp_page
# reused a THP mapped once whatever else referenced it, so cow.c case 3
# ("vmsplice() + unmap in child") leaks the parent's write into the child's
# pipe on THPs as on base pages. With the default rules the same steps pass
# (tests/scenarios/cow/thp/thp-03-*).
machine ram=1G
variant cow_reuse=mapcount
spawn P
P mmap mem 2M thp
P write mem 2M 0x01
P fork C
C gup v mem 2M get
C munmap mem
P write mem 2M 0xff
expect P smaps mem == rss_kb=2048 anon_huge_kb=2048 swap_kb=0 hugetlb_kb=0
expect v read 0 2M violates oracle
release v
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
C exit
check
