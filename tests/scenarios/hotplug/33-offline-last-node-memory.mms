# Reference §10 case 33: offlining the last memory of a node clears N_MEMORY
# and sends NODE_REMOVING_LAST_MEMORY / NODE_REMOVED_LAST_MEMORY.
machine ram=2G
hotplug add 0x100000000 128M node=1
expect nodeinfo 1 online == 1
expect nodeinfo 1 has_memory == 0
sysfs write devices/system/memory/memory32/state online_movable
expect nodeinfo 1 has_memory == 1
expect nodeinfo 1 has_normal_memory == 0
expect nodeinfo 1 events == NODE_ADDING_FIRST_MEMORY,NODE_ADDED_FIRST_MEMORY
sysfs write devices/system/memory/memory32/state offline
expect nodeinfo 1 has_memory == 0
expect nodeinfo 1 events == NODE_ADDING_FIRST_MEMORY,NODE_ADDED_FIRST_MEMORY,NODE_REMOVING_LAST_MEMORY,NODE_REMOVED_LAST_MEMORY
hotplug remove 0x100000000 128M
expect nodeinfo 1 online == 0
expect nodeinfo 0 has_memory == 1
check
