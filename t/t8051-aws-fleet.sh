#!/bin/sh
# The aws provider's fleets on moto_server with signature checking: an Auto
# Scaling group per fleet from the launch template at a pinned version,
# across the given subnets, with the given sizes; listing (with instances
# from EC2), scaling and force-deleting, moto's state read back after each
# call (t/unit/aws-fleet.c prints the TAP).
. "${top_srcdir:-.}/t/lib.sh"
. "$top_srcdir/t/lib-moto.sh"
moto_start
"$top_builddir/t/unit/aws-fleet"
