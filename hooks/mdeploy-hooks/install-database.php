<?php
// install-database.php INSTALL_DATABASE_PHP - runs Moodle's
// admin/cli/install_database.php with the admin password and the site's
// names from the environment (MDH_ADMINPASS, MDH_ADMINUSER, MDH_ADMINEMAIL,
// MDH_FULLNAME, MDH_SHORTNAME, MDH_SUMMARY, MDH_SUPPORTEMAIL, MDH_LANG), set
// by install.sh. install_database.php reads its options from
// $_SERVER['argv']; handing them over here keeps the password out of the
// process's command line (/proc/PID/cmdline is readable by every user).

if (PHP_SAPI !== 'cli' || isset($_SERVER['REMOTE_ADDR'])) {
    exit(1);
}
if ($argc !== 2 || basename($argv[1]) !== 'install_database.php' || !is_file($argv[1])) {
    fwrite(STDERR, "usage: install-database.php PATH/admin/cli/install_database.php\n");
    exit(2);
}
$mdh_script = realpath($argv[1]);
$mdh_pass = getenv('MDH_ADMINPASS');
if ($mdh_pass === false || $mdh_pass === '') {
    fwrite(STDERR, "install-database.php: MDH_ADMINPASS (the admin password) is empty\n");
    exit(1);
}
// Not inherited by anything Moodle starts.
putenv('MDH_ADMINPASS');
unset($_ENV['MDH_ADMINPASS'], $_SERVER['MDH_ADMINPASS']);

$mdh_args = array($mdh_script, '--agree-license', '--adminpass=' . $mdh_pass);
$mdh_options = array('adminuser' => 'MDH_ADMINUSER', 'adminemail' => 'MDH_ADMINEMAIL', 'fullname' => 'MDH_FULLNAME',
    'shortname' => 'MDH_SHORTNAME', 'summary' => 'MDH_SUMMARY', 'supportemail' => 'MDH_SUPPORTEMAIL', 'lang' => 'MDH_LANG');
foreach ($mdh_options as $mdh_option => $mdh_var) {
    $mdh_value = getenv($mdh_var);
    if ($mdh_value !== false && $mdh_value !== '') {
        $mdh_args[] = '--' . $mdh_option . '=' . $mdh_value;
    }
}
$_SERVER['argv'] = $argv = $mdh_args;
$_SERVER['argc'] = $argc = count($mdh_args);
unset($mdh_pass, $mdh_args, $mdh_options, $mdh_option, $mdh_var, $mdh_value);

// At the top level, as PHP would run it: its globals ($CFG, $DB) are global.
require($mdh_script);
