#!/bin/busybox sh
# Served as the second of two initrds that both provide /netboot-init (rdinit=); busybox
# comes from the third, initrd.cpio.gz. Running proves all three arrived, in order.
/bin/busybox mount -t proc proc /proc
/bin/busybox echo "NETBOOT-INITRD-OK from init-b, cmdline: $(/bin/busybox cat /proc/cmdline)"
/bin/busybox poweroff -f
