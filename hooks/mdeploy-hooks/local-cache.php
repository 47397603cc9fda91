<?php
// local-cache.php CONFIG - settles the release's local cache directory
// ($CFG->localcachedir) on this instance, for validate-service.sh. After a
// full purge (admin/cli/upgrade.php purges all caches) Moodle empties every
// instance's local cache on that instance's next request
// (make_localcache_directory: localcachedirpurged newer than .lastpurged)
// while its other requests compile templates into it and read the component
// cache from it: a request can then fail with Moodle's error page. Done here,
// before the instance serves, no request is reading. Prints what it did.

if (PHP_SAPI !== 'cli' || isset($_SERVER['REMOTE_ADDR'])) {
    exit(1);
}
if ($argc !== 2 || !is_file($argv[1])) {
    fwrite(STDERR, "usage: local-cache.php CONFIG.PHP\n");
    exit(2);
}
define('CLI_SCRIPT', true);
require($argv[1]);

$stamp = "$CFG->localcachedir/.lastpurged";
$before = is_file($stamp) ? filemtime($stamp) : 0;
make_localcache_directory('', true);
clearstatcache();
$purged = !empty($CFG->localcachedirpurged) && $before < $CFG->localcachedirpurged;
echo ($purged ? "purged" : "current") . " $CFG->localcachedir\n";
exit(0);
