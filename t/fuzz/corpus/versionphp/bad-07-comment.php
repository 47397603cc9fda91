<?php
/* never closed
