#!/bin/busybox sh
# Served as the first of two initrds that both provide /netboot-init (rdinit=): the later
# one must win, so this one running means the initrds were concatenated out of order.
/bin/busybox echo "NETBOOT-ORDER-WRONG: init-a ran, init-b should have replaced it"
/bin/busybox poweroff -f
