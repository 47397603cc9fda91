<?php
$plugin->release = 'unterminated;
