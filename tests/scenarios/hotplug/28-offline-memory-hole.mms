# Reference §10 case 28: a block spanning a memory hole cannot be offlined:
# EINVAL ("memory holes", walk_system_ram_range counts fewer pages).
# 384M of boot RAM in 256M blocks: memory1 has one present section.
machine ram=384M block=256M
expect sysfs read devices/system/memory/block_size_bytes == 10000000
expect sysfs read devices/system/memory/memory1/valid_zones == DMA32
expect sysfs write devices/system/memory/memory1/state offline fails EINVAL
expect sysfs read devices/system/memory/memory1/state == online
check
