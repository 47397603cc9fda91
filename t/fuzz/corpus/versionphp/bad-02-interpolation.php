<?php
$plugin->release = "v$x";
