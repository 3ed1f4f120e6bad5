# Device-private memory is placed above max_phys (request_free_mem_region);
# it has a memmap but no bytes, and no walker sees it as online.
machine ram=1G max_phys=64G
variant pfn_walker=active
expect memremap add hmm addr=0 size=128M type=private == 0x1000000
expect memremap show hmm refs == 1
expect pfn_to_online_page 0x1000000 == 0
expect kpageflags 0x1000000 == ""
let p = memremap alloc hmm
expect memremap show hmm refs == 2
expect memremap remove hmm fails EDEADLK
memremap free hmm $p
expect memremap free hmm $p fails EINVAL
memremap remove hmm
expect pfn_valid 0x1000000 == 0
expect memremap add ram addr=0 size=2M type=generic fails ENXIO
check
