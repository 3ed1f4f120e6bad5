# Reference §10 case 13: a MEM_GOING_ONLINE notifier returning NOTIFY_BAD makes
# the write fail with EPERM (notifier_to_errno); the block stays offline,
# MEM_CANCEL_ONLINE is delivered, and the pages are in no zone.
machine ram=2G
hotplug add 0x100000000 128M
notifier add veto going_online=bad
notifier add late priority=-10
expect sysfs write devices/system/memory/memory32/state online fails EPERM
expect sysfs read devices/system/memory/memory32/state == offline
expect notifier log veto == MEM_GOING_ONLINE MEM_CANCEL_ONLINE
# The chain stopped at the veto: a lower-priority notifier sees only the cancel.
expect notifier log late == MEM_CANCEL_ONLINE
expect zoneinfo 0 Normal spanned == 0
expect zoneinfo 0 Normal present == 0
expect pfn_to_online_page 0x100000 == 0
notifier remove veto
sysfs write devices/system/memory/memory32/state online
expect notifier log late == MEM_CANCEL_ONLINE MEM_GOING_ONLINE MEM_ONLINE
check
