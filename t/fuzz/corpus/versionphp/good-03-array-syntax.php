<?php
$plugin->version = 2024010100;
$plugin->supported = array(401, 405,);
$plugin->release = "v1 \"q\"";
$plugin->maturity = MATURITY_BETA;
/* c */ # h
?>
