#!/bin/bash
# A short power-cut torture (3 cycles): brickd on ext4 on dm-flakey, the
# disk's writes dropped at a random moment, ext4 remounted, every
# acknowledged operation verified. The long run is test/kernel/powercut.sh
# (make torture-powercut).
exec bash "$(dirname "$0")/../powercut.sh" 3
