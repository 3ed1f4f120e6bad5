# Issue 9 item 4, mainline (offline_skip=refcount): a kernel user holds a
# speculative reference on a fake-offline page when its block goes offline.
# In MEM_GOING_OFFLINE the driver drops its own reference and WARNs
# ("fake-offline page referenced"); the user then drops the last one and the
# page is freed into the buddy, inside an unplugged sub-block. The offline is
# cancelled later in the chain; the driver takes "its" references back, one
# of them on a free page. The next allocation gets that page, and with
# UNPLUGGED_INACCESSIBLE zeroing it is a fatal access.
# Compare offline-skip-skippable-held-reference.mms.
machine ram=2G block=128M
variant offline_skip=refcount
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=200M inaccessible
sysfs write devices/system/memory/memory33/state online_movable
expect kpageflags 0x10c800 == dirty,offline
spawn A
A mmap buf 4K
page get 0x10c800
expect page show 0x10c800 refcount == 2
notifier add user priority=-1 put=0x10c800
notifier add veto priority=-2 going_offline=EBUSY
# The WARN, a free page with a reference, and a zone with one free page
# more than it manages: invariant reports.
expect sysfs write devices/system/memory/memory33/state offline violates invariant
expect A write buf 4K 0x11 violates fatal-access
expect A pfn buf == 0x10c800
expect sysfs read devices/system/memory/memory33/state == online
