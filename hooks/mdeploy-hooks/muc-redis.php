<?php
// muc-redis.php - Moodle's application cache (MUC) in Redis, declared in
// config.php, with the Redis password kept out of MUC's own file.
//
// MUC keeps its stores in $CFG->dataroot/muc/config.php, a file Moodle
// rewrites itself (mode $CFG->filepermissions) in the shared dataroot: a
// Redis store added the usual way (admin UI, cache_config_writer) puts the
// password there, in every dataroot backup, and keeps it when the secret is
// rotated. Instead after-install.sh writes the store's settings into
// config.php ($CFG->mdeploy_muc_redis: server, prefix, password, encryption,
// cafile; mode 0640 like the database password) and names the factory below
// ($CFG->alternative_cache_factory_class, Moodle 3.10 and later). Its config
// classes add the store "mdeploy_redis" and map the application mode to it
// when MUC's file is read, and take both out again when Moodle writes it:
// the file on disk stays what Moodle would have without mdeploy, the
// password is only in config.php. The mapping is forced: the admin pages
// cannot move the application cache off Redis (a change there is not kept).
//
// Loaded by the autoloader that config.php registers, when Moodle asks for
// the factory (its parent classes need Moodle's own autoloader first).

defined('MOODLE_INTERNAL') || die();

/** The injected store and the mode it serves. */
final class mdeploy_muc_redis {
    /** The store's name in MUC's configuration. */
    const STORE = 'mdeploy_redis';
    /** \core_cache\store::MODE_APPLICATION */
    const MODE = 1;

    /** The settings from config.php, or null when there are none. */
    private static function settings(): ?array {
        global $CFG;
        $r = $CFG->mdeploy_muc_redis ?? null;
        return is_array($r) && !empty($r['server']) ? $r : null;
    }

    /** MUC's configuration as read from its file, with the Redis store and the application mode on it. */
    public static function inject(array $c): array {
        $r = self::settings();
        if ($r === null || !isset($c['stores']) || !is_array($c['stores'])) {
            return $c;
        }
        $dir = \core_component::get_plugin_directory('cachestore', 'redis');
        if (!$dir || !is_file("$dir/lib.php")) {
            return $c;
        }
        require_once("$dir/lib.php");
        $conf = [
            'server' => (string)$r['server'],
            'prefix' => (string)($r['prefix'] ?? ''),
            'password' => (string)($r['password'] ?? ''),
            'serializer' => 1,          // Redis::SERIALIZER_PHP
            'compressor' => 0,          // cachestore_redis::COMPRESSOR_NONE
            'encryption' => !empty($r['encryption']),
            'cafile' => (string)($r['cafile'] ?? ''),
            'clustermode' => false,
        ];
        $c['stores'][self::STORE] = [
            'name' => self::STORE,
            'plugin' => 'redis',
            'configuration' => $conf,
            'features' => \cachestore_redis::get_supported_features($conf),
            'modes' => \cachestore_redis::get_supported_modes($conf),
            'mappingsonly' => false,
            'class' => 'cachestore_redis',
            'default' => false,
        ];
        $maps = [];
        foreach ($c['modemappings'] ?? [] as $m) {
            if ((int)$m['mode'] !== self::MODE) {
                $maps[] = $m;
            }
        }
        $maps[] = ['mode' => self::MODE, 'store' => self::STORE, 'sort' => 0];
        $c['modemappings'] = $maps;
        return $c;
    }

    /** The configuration Moodle is about to write, without the store (and its password). */
    public static function strip(array $c): array {
        if (!isset($c['stores'][self::STORE])) {
            return $c;
        }
        unset($c['stores'][self::STORE]);
        $maps = [];
        $application = false;
        foreach ($c['modemappings'] ?? [] as $m) {
            if ($m['store'] === self::STORE) {
                continue;
            }
            $application = $application || (int)$m['mode'] === self::MODE;
            $maps[] = $m;
        }
        if (!$application) {
            $maps[] = ['mode' => self::MODE, 'store' => 'default_application', 'sort' => -1];
        }
        $c['modemappings'] = $maps;
        foreach ($c['definitionmappings'] ?? [] as $i => $m) {
            if (($m['store'] ?? '') === self::STORE) {
                unset($c['definitionmappings'][$i]);
            }
        }
        return $c;
    }
}

/** MUC's configuration, read with the Redis store. */
class mdeploy_muc_config extends \core_cache\config {
    protected function include_configuration() {
        return mdeploy_muc_redis::inject(parent::include_configuration());
    }
}

/** MUC's configuration writer: reads with the store, writes without it. */
class mdeploy_muc_config_writer extends \core_cache\config_writer {
    protected function include_configuration() {
        return mdeploy_muc_redis::inject(parent::include_configuration());
    }

    protected function generate_configuration_array() {
        return mdeploy_muc_redis::strip(parent::generate_configuration_array());
    }
}

/** Moodle's cache factory with the two classes above (\core_cache\factory::create_config_instance otherwise). */
class mdeploy_muc_factory extends \core_cache\factory {
    public function create_config_instance($writer = false) {
        $class = mdeploy_muc_config::class;
        $needtocreate = !$class::config_file_exists();
        if ($writer || $needtocreate) {
            $class = mdeploy_muc_config_writer::class;
        }
        $error = false;
        if ($needtocreate) {
            $this->set_state(self::STATE_INITIALISING);
            $configuration = $class::create_default_configuration();
            if ($configuration !== true) {
                $this->set_state(self::STATE_ERROR_INITIALISING);
                $this->configs[$class] = new $class();
                $this->configs[$class]->load($configuration);
                $error = true;
            }
        }
        if (!array_key_exists($class, $this->configs)) {
            $this->configs[$class] = new $class();
            $this->configs[$class]->load();
        }
        if (!$error) {
            $this->set_state(self::STATE_READY);
        }
        return $this->configs[$class];
    }
}
