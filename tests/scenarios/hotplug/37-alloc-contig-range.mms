# Reference §10 case 37: alloc_contig_range() over a range holding a
# PageOffline page with a reference fails with EBUSY; over free pages every
# page ends up allocated with refcount 1 and is no longer a buddy page.
machine ram=1G
page alloc b pfn=0x20100
page mark b offline
expect page alloc c pfn=0x20000 nr=1024 fails EBUSY
expect kpageflags 0x20000 == buddy
page alloc d pfn=0x20200 nr=512
expect kpageflags 0x20200 == ""
expect kpageflags 0x203ff == ""
expect page show 0x202ff == flags=0x0 type=none refcount=1 mapcount=0 zone=DMA32 node=0
expect kpageflags 0x20400 == buddy
page free d
expect kpageflags 0x20200 == buddy
check
