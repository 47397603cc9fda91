<?php
// This file is part of a Moodle-shaped test fixture.

/**
 * Version details.
 *
 * @package    local_tweaks
 */

defined('MOODLE_INTERNAL') || die();

$plugin->component = 'local_tweaks';
$plugin->version   = 2024052000;
$plugin->requires  = 2024100700;   // Moodle 4.5.
$plugin->maturity  = MATURITY_STABLE;
$plugin->release   = "v2024052000";
$plugin->dependencies = [
    'mod_certx' => 2024060100,
    'mod_forum' => ANY_VERSION,
];
