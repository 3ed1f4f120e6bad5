# Reference §10 case 14 (mem-on-off-test.sh step 7): an injected -12 on
# MEM_GOING_ONLINE makes onlining fail with ENOMEM (notifier_from_errno).
machine ram=2G
hotplug add 0x100000000 128M
expect sysfs read kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error == 0
sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error -12
expect sysfs read kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error == -12
expect sysfs write devices/system/memory/memory32/state online fails ENOMEM
expect sysfs read devices/system/memory/memory32/state == offline
sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error 0
sysfs write devices/system/memory/memory32/state online
expect sysfs read devices/system/memory/memory32/state == online
check
