# cow.c non-anonymous cases on a hugetlb memfd ("... with memfd hugetlb
# (2048 kB)"): memfd_create(MFD_HUGETLB) gives a hugetlbfs file whose page
# cache holds 2 MiB folios from the pool. "Basic COW": a write to the private
# mapping copies the cache folio into a new anonymous hugetlb folio, so the
# shared mapping never changes. "R/O longterm GUP pin" (slow and fast):
# gup_must_unshare() for a non-anonymous page in a COW mapping unshares
# (copies) first, so the pin sees the process's later write.
machine ram=1G hugepages=6
spawn P
file f 2M hugetlb
P mmap mem 2M file=f private
P mmap smem 2M file=f shared ro
expect P read smem 2M == 0x00
let cache = P pfn smem
expect kpageflags $cache has huge,compound_head,mmap
expect P smaps smem == rss_kb=0 anon_huge_kb=0 swap_kb=0 hugetlb_kb=2048
P write mem 2M 0xff
expect P pfn mem != $cache
let copy = P pfn mem
expect kpageflags $copy has huge,anon
expect P read smem 2M == 0x00
expect P read mem 2M == 0xff
P mmap mem2 2M file=f private hugetlb
P touch mem2
expect P pfn mem2 == $cache
P gup p mem2 2M pin longterm
expect P pfn mem2 != $cache
P write mem2 2M 0x5a
expect p read 0 2M == 0x5a
expect P read smem 2M == 0x00
release p
P mmap mem3 2M file=f private
P touch mem3
P gup q mem3 2M pin longterm fast
expect P pfn mem3 != $cache
P write mem3 2M 0x6b
expect q read 0 2M == 0x6b
release q
# A file not on hugetlbfs cannot be mapped with MAP_HUGETLB.
file g 4K
expect P mmap bad 4K file=g hugetlb fails EINVAL
expect file h 1M hugetlb fails EINVAL
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
