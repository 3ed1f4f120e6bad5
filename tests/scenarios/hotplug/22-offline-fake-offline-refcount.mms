# Reference §10 case 22: when the owner drops the PageOffline pages' refcount
# to 0 in MEM_GOING_OFFLINE the block goes offline; managed pages fall by
# 32768 - #PageOffline (the PageOffline pages were never managed). If the
# offline is cancelled, MEM_CANCEL_OFFLINE gives the references back.
machine ram=2G
hotplug add 0x100000000 128M
sysfs write devices/system/memory/memory32/state online_movable
page alloc vmem pfn=0x104000 nr=512
page mark vmem fake_offline
expect zoneinfo 0 Movable managed == 32256
# A later notifier vetoes: the owner must take its references back.
notifier add veto priority=-1 going_offline=EBUSY
expect sysfs write devices/system/memory/memory32/state offline fails EBUSY
expect page show 0x104000 == flags=0x0 type=offline refcount=1 mapcount=0 zone=Movable node=0
expect page show 0x1041ff == flags=0x0 type=offline refcount=1 mapcount=0 zone=Movable node=0
notifier remove veto
sysfs write devices/system/memory/memory32/state offline
expect sysfs read devices/system/memory/memory32/state == offline
expect zoneinfo 0 Movable managed == 0
expect zoneinfo 0 Movable present == 0
check
