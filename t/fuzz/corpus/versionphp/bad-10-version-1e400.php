<?php
defined('MOODLE_INTERNAL') || die();
$version = 1e400;
$release = '4.5';
