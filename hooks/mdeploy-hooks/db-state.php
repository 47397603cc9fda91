<?php
// db-state.php CONFIG - what the database of a Moodle release holds, for
// install.sh. Loads the release's config.php as Moodle's CLI scripts do and
// prints one line:
//   empty              no table with the site's prefix
//   installed VERSION  a finished install ($CFG->rolesactive set)
//   partial N          N tables, but the install never finished
// Exits non-zero (with Moodle's message) when the database cannot be reached.

if (PHP_SAPI !== 'cli' || isset($_SERVER['REMOTE_ADDR'])) {
    exit(1);
}
if ($argc !== 2 || !is_file($argv[1])) {
    fwrite(STDERR, "usage: db-state.php CONFIG.PHP\n");
    exit(2);
}
define('CLI_SCRIPT', true);
define('CACHE_DISABLE_ALL', true);
require($argv[1]);

$tables = $DB->get_tables(false);
if (!$tables) {
    echo "empty\n";
    exit(0);
}
$version = isset($tables['config']) ? $DB->get_field('config', 'value', array('name' => 'version')) : false;
$active = isset($tables['config']) ? $DB->get_field('config', 'value', array('name' => 'rolesactive')) : false;
if ($version === false || !$active) {
    echo 'partial ' . count($tables) . "\n";
    exit(0);
}
echo "installed $version\n";
exit(0);
