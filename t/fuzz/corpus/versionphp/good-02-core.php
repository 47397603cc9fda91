<?php
// This file is part of Moodle - https://moodle.org/
//
// MOODLE VERSION INFORMATION

defined('MOODLE_INTERNAL') || die();

$version  = 2024100702.00;              // YYYYMMDD      = weekly release date of this DEV branch.
                                        //         RR    = release increments - 00 in DEV branches.
                                        //           .XX = incremental changes.
$release  = '4.5.2 (Build: 20241014)';   // Human-friendly version name
$branch   = '405';                     // This version's branch.
$maturity = MATURITY_STABLE;             // This version's maturity level.
