# Offlining a ZONE_MOVABLE block migrates pages mremap() moved (issue 9
# item 7). mremap keeps each anonymous page's index and gives the new VMA
# the old range's vm_pgoff, so the anon_vma's reverse map finds the page at
# its new address: here a THP whose upper half was moved onto a placeholder
# (cow.c's partially mremap()'ed THP) is split and every subpage migrates
# from both places, exclusivity and all, and the moved part of a shared
# memfd mapping migrates through the file's reverse map at its file offset.
machine ram=2G movable=128M
spawn A
A mmap mem 2M thp
A write mem 2M 0x01
A write mem+1M "upper half"
let head = A pfn mem
expect kpageflags $head has thp,compound_head
A mmap upper 1M none
A mremap mem 1M 1M 1M to=upper
let moved = A pfn upper
expect kpageflags $moved has thp,compound_tail
file F 16K
A mmap f 16K file=F shared
A write f+8K "file page two"
A mmap g 8K none
A mremap f 8K 8K 8K to=g
let fp = A pfn g
sysfs write devices/system/memory/memory15/state offline
expect A pfn mem != $head
expect A pfn upper != $moved
let low = A pfn mem
expect A pte mem == present=1 writable=1 anon_exclusive=1 pfn=$low
let high = A pfn upper
expect A pte upper == present=1 writable=1 anon_exclusive=1 pfn=$high
expect page show $high zone != Movable
expect A read mem 1M == 0x01
expect A read upper 10 == "upper half"
expect A read upper+10 4086 == 0x01
expect A pfn g != $fp
expect A read g 13 == "file page two"
# The file still sees writes through the moved part, and the reverse.
A mmap whole 16K file=F shared
A write g+4K "via g"
expect A read whole+12K 5 == "via g"
check

# Teardown: with every pin released and every process gone, all memory
# returns (check/leak.rs).
A exit
check
