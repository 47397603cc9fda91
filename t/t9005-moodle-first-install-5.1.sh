#!/bin/sh
# t9002 on Moodle 5.1.0: the web root in public/, admin/cli/ and config.php
# at the release root. The first deployment installs the site once, the
# admin logs in through the load balancer, a redeploy does not install
# again, and the group's cron runs the new release.
MOODLE_FIRST_INSTALL_TAG=v5.1.0
MOODLE_FIRST_INSTALL_VERSION=2025100600
MOODLE_FIRST_INSTALL_SALT=89
. "${top_srcdir:-.}/t/t9002-moodle-first-install.sh"
