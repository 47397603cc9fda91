<?php
defined('MOODLE_INTERNAL') || die();
require_once(__DIR__ . '/version_base.php');
if (!defined('LOCAL_X_BUILD')) {
    define('LOCAL_X_BUILD', '2024' . '1007');
}
$plugin->component = 'local_x';
$plugin->version = 2024100700 + 1;
$plugin->release = "v{$plugin->version} (" . LOCAL_X_BUILD . ')';
if ($CFG->branch >= 405):
    $plugin->requires = 2024100100;
elseif (defined('CLI_SCRIPT')):
    $plugin->requires = 2024042200;
else:
    $plugin->requires = (int)'2023100900';
endif;
$plugin->dependencies['mod_forum'] = ANY_VERSION;
$plugin->maturity = isset($plugin->x) ? MATURITY_BETA : MATURITY_STABLE;
$plugin->supported = [405, 405] ?? null;
function local_x_helper($a) { return $a ? '}' : "{"; }
unset($plugin->x);
return;
