# Issue 9 item 2: with VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, any access to an
# unplugged block is fatal, whoever makes it. A host that unplugs memory
# behind the guest's back (a raw UNPLUG of blocks Linux still uses, which no
# correct driver sends: spec D-OP-6) makes every kind of accessor touch it:
# the page allocator zeroing a new page, a process, a DMA read through a pin,
# /proc/kcore, and migration while offlining. Each is reported with the
# address, the command and the model functions that led to it.
machine ram=2G block=128M auto_online=online_movable
virtio-mem add vm0 addr=0x100000000 size=128M block=2M requested=128M inaccessible nodriver
expect virtio-mem request vm0 plug 0x100000000 64 == ACK
# Memory added as a driver would; auto-onlined to ZONE_MOVABLE.
hotplug add 0x100000000 128M
spawn A
A mmap buf 64K
A write buf 64K 0xaa
A gup p buf 4K
expect A read buf 64K == 0xaa
expect virtio-mem request vm0 unplug 0x100000000 64 == ACK
# A new page for A: the allocator's clear_page() is the first to touch.
A mmap more 4K
expect A write more 4K 0x01 violates fatal-access
expect A read buf 4K violates fatal-access
expect p read 0 16 violates fatal-access
expect kcore read 0x100000000 4096 violates fatal-access
release p
expect sysfs write devices/system/memory/memory32/state offline violates fatal-access
# Plugged again, the memory is accessible; its old contents are gone.
expect virtio-mem request vm0 plug 0x100000000 64 == ACK
sysfs write devices/system/memory/memory32/state online_movable
expect kcore read 0x100000000 16 == 0x00
