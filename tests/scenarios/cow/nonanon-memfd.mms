# cow.c non-anonymous cases on a memfd: "Basic COW" — a write to the private
# mapping copies the page-cache page into a new anonymous page, so the shared
# mapping of the same file never changes; "R/O longterm GUP pin" (slow and
# fast) — gup_must_unshare: a longterm R/O pin of a page-cache page in a COW
# mapping unshares first, so the pin sees the process's later writes.
machine ram=1G
spawn P
file f 4K
P mmap mem 4K file=f private
P mmap smem 4K file=f shared ro
expect P read smem 4K == 0x00
let cache = P pfn smem
expect kpageflags $cache == uptodate,lru,mmap,swapbacked
P write mem 4K 0xff
expect P pfn mem != $cache
expect P read smem 4K == 0x00
expect P read mem 4K == 0xff
# R/O longterm pin through a second private mapping that still maps the
# cache page.
P mmap mem2 4K file=f private
P touch mem2
expect P pfn mem2 == $cache
P gup p mem2 4K pin longterm
expect P pfn mem2 != $cache
P write mem2 4K 0x5a
expect p read 0 4K == 0x5a
expect P read smem 4K == 0x00
release p
P mmap mem3 4K file=f private
P touch mem3
P gup q mem3 4K pin longterm fast
P write mem3 4K 0x6b
expect q read 0 4K == 0x6b
release q
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
P exit
check
