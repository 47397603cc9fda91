<?php
defined('MOODLE_INTERNAL') || die();
$plugin->component = 'local_broken';
$plugin->version   = time();
