#!/bin/sh
# t8104 on real Moodle 5.1.0 (web root in public/, config.php at the release
# root): the application cache in Redis, its password in config.php only.
MDEPLOY_TEST_MUC_TAG=v5.1.0
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/t/t8104-moodle-muc-redis.sh"
