# Reference §10 case 18: set_online_page_callback() succeeds only while the
# generic callback is installed; restore_online_page_callback() only with the
# callback that was set (both EINVAL otherwise).
machine ram=2G
online_page_callback set cb1 keep=0x100000000,2M
expect online_page_callback set cb2 keep=0x100000000,4M fails EINVAL
expect online_page_callback restore cb2 fails EINVAL
online_page_callback restore cb1
expect online_page_callback restore cb1 fails EINVAL
online_page_callback set cb2
online_page_callback restore cb2
check
