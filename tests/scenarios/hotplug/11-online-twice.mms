# Reference §10 case 11: `echo online > state` on an online block fails with
# EINVAL (device_online() returns 1, state_store maps it); `echo 1 > online`
# on an online block succeeds.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online
expect sysfs write devices/system/memory/memory32/state online fails EINVAL
expect sysfs write devices/system/memory/memory32/state online_movable fails EINVAL
sysfs write devices/system/memory/memory32/online 1
expect sysfs read devices/system/memory/memory32/state == online
# Boot memory is online too.
expect sysfs write devices/system/memory/memory5/state online fails EINVAL
check
