<?php
defined("MOODLE_INTERNAL") or die;
$plugin = new stdClass();
$plugin->version = -1_000.5;
