# Reference §10 case 27 (mem-on-off-test.sh step 9): an injected -12 on
# MEM_GOING_OFFLINE fails the offline with ENOMEM; MEM_CANCEL_OFFLINE goes to
# every notifier, including those the chain never reached.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
notifier add early priority=10
notifier add late priority=-10
sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error -12
expect sysfs write devices/system/memory/memory32/state offline fails ENOMEM
expect sysfs read devices/system/memory/memory32/state == online
expect notifier log early == MEM_GOING_OFFLINE MEM_CANCEL_OFFLINE
expect notifier log late == MEM_CANCEL_OFFLINE
# debugfs_errno_set() clamps to [-MAX_ERRNO, 0]; only unparsable input fails.
sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error -4096
expect sysfs read kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error == -4095
sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error 1
expect sysfs read kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error == 0
expect sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error abc fails EINVAL
sysfs write kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error 0
sysfs write devices/system/memory/memory32/state offline
check
