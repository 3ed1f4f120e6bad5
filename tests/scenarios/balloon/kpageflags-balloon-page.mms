# /proc/kpageflags of a balloon page (fs/proc/page.c stable_page_flags, 7.2):
# KPF_OFFLINE for the PageOffline type and KPF_UPTODATE because
# PG_movable_ops aliases PG_uptodate; nothing else. /proc/kpagecount is 0
# (a typed page has no mapcount) and kcore reads zeros (a PageOffline page).
machine ram=1G
# A free page before: part of a free buddy block.
expect kpageflags 0x3fc00 == buddy
# The allocator splits the last free 4 MiB block and hands out its first frame.
expect balloon inflate 4K == 4096
expect kpageflags 0x3fc00 == uptodate,offline
expect kpagecount 0x3fc00 == 0
expect page show 0x3fc00 == flags=0x8 type=offline refcount=1 mapcount=0 zone=DMA32 node=0
expect kcore page 0x3fc00 0 16 == 00000000000000000000000000000000
check
# Deflated, the page is free again but first waits on a pcp list
# (free_unref_page()): no PageBuddy, no flags, refcount 0.
expect balloon deflate 4K == 4096
expect page show 0x3fc00 == flags=0x0 type=none refcount=0 mapcount=0 zone=DMA32 node=0
expect kpagecount 0x3fc00 == 0
check
# Drained, it merges back: the head of its free block.
drain_all_pages
expect kpageflags 0x3fc00 == buddy
expect page show 0x3fc00 == flags=0x0 type=buddy refcount=0 mapcount=0 zone=DMA32 node=0
check
