<?php $plugin->version = 1; ?>trailing html
