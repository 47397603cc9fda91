<?php
defined('MOODLE_INTERNAL') || die();
$plugin->version = -5;
$plugin->component = 'mod_x';
