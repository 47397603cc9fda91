<?php
$plugin->version = 1 + 2;
