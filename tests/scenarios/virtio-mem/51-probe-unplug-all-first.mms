# Reference §10 case 51 (virtio_mem_probe, virtio_mem_send_unplug_all_request)
# and spec D-INIT-2: a driver that finds memory plugged at probe sends
# UNPLUG_ALL before anything else. BUSY -> -ETXTBSY and the retry timer; ACK
# -> plugged_size 0 and the configuration is read again (the usable region
# may have shrunk).
machine ram=2G block=128M
virtio-mem add vm0 addr=0x100000000 size=1G block=2M requested=8M nodriver
expect virtio-mem request vm0 plug 0x100000000 4 == ACK
expect virtio-mem show vm0 plugged_size == 8388608
virtio-mem busy vm0 on
virtio-mem probe vm0
expect virtio-mem show vm0 plugged_size == 8388608
expect virtio-mem driver vm0 timer == 50000ms
expect virtio-mem driver vm0 plugged_size == 8388608
virtio-mem busy vm0 off
virtio-mem expire vm0
# UNPLUG_ALL, then the 8M requested, plugged again from the first block.
expect virtio-mem driver vm0 timer == none
expect virtio-mem show vm0 plugged_size == 8388608
expect virtio-mem driver vm0 memory32 == OFFLINE_PARTIAL 4/64
expect virtio-mem request vm0 state 0x100000000 4 == PLUGGED
# A second driver cannot bind to the same device.
expect virtio-mem probe vm0 fails EBUSY
check
