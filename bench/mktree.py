#!/usr/bin/env python3
"""mktree.py - a generated tree shaped like a Moodle checkout, for bench/bundle-bench.sh.

usage: bench/mktree.py DIR [FILES] [MEGABYTES]

Defaults: 45,700 files and 580 MB, the size of a Moodle 4.5 tree. Files are
mostly PHP-like text built from a vocabulary of identifiers and keywords (so
they compress about as well as real PHP, 4-5x), with JavaScript, CSS, mustache
templates, language strings and about 8% binary files (images, fonts) of
random bytes that do not compress. Directories follow Moodle's plugin layout
(mod/*/, blocks/*/, admin/tool/*/ ... with db/, classes/, lang/en/,
templates/, tests/). The same arguments always give the same tree.
"""
import os
import random
import sys

WORDS = ("function public private protected static return array string int bool null true false "
         "if else foreach while for new class extends implements namespace use require_once "
         "defined MOODLE_INTERNAL global $DB $CFG $USER $PAGE $OUTPUT get_string context_system "
         "required_param optional_param PARAM_INT PARAM_TEXT PARAM_ALPHANUMEXT moodle_url html_writer "
         "record get_record get_records insert_record update_record delete_records course user "
         "module instance capability require_capability has_capability event trigger observer "
         "renderer template export_for_template external_api execute_parameters execute_returns "
         "external_value external_single_structure core_component plugin version requires "
         "component maturity MATURITY_STABLE release dependencies cache_definition task scheduled "
         "adhoc privacy provider metadata collection userlist contextlist approved_contextlist "
         "form moodleform definition validation add_element setType addRule grade item category "
         "quiz question attempt slot behaviour assign submission feedback forum discussion post "
         "block_base instance_config specialization applicable_formats theme scss precompiled "
         "lang en string_manager navigation settings admin_setting configtext configcheckbox").split()


def php(rng, size):
    out = ["<?php\n// This file is part of Moodle - https://moodle.org/\n"
           "defined('MOODLE_INTERNAL') || die();\n\n"]
    n = len(out[0])
    while n < size:
        depth = rng.randint(0, 3)
        line = "    " * depth + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 11)))
        line += rng.choice([";", "(", ") {", "}", ";", ",", " = '" + rng.choice(WORDS) + "';"]) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out)[:size].encode()


def text(rng, size, kind):
    if kind == "php":
        return php(rng, size)
    chunks, n = [], 0
    while n < size:
        if kind == "js":
            line = "define(['" + rng.choice(WORDS) + "'], function(" + ", ".join(rng.sample(WORDS, 3)) + ") {\n"
        elif kind == "css":
            line = "." + "-".join(rng.sample(WORDS, 2)) + " { margin: %dpx; color: #%06x; }\n" % (
                rng.randint(0, 40), rng.randint(0, 0xffffff))
        elif kind == "mustache":
            line = "<div class=\"" + rng.choice(WORDS) + "\">{{#str}} " + rng.choice(WORDS) + ", core {{/str}}</div>\n"
        else:
            line = "$string['" + "_".join(rng.sample(WORDS, 2)) + "'] = '" + " ".join(rng.sample(WORDS, 6)) + "';\n"
        chunks.append(line)
        n += len(line)
    return "".join(chunks)[:size].encode()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    nfiles = int(sys.argv[2]) if len(sys.argv) > 2 else 45700
    total = (int(sys.argv[3]) if len(sys.argv) > 3 else 580) * 1024 * 1024
    rng = random.Random(20241007)
    plugintypes = ["mod", "blocks", "admin/tool", "question/type", "local", "theme", "report",
                   "course/format", "enrol", "auth", "filter", "repository", "lib/editor/tiny/plugins"]
    subdirs = ["", "db", "classes", "classes/output", "classes/external", "classes/privacy", "lang/en",
               "templates", "tests", "tests/behat", "amd/src", "amd/build", "pix", "backup/moodle2"]
    dirs = ["lib", "lib/classes", "lib/db", "admin", "admin/cli", "course", "user", "login", "lib/amd/src",
            "lib/amd/build", "lib/templates", "lang/en", "vendor/composer", "lib/fonts", "pix/i"]
    for pt in plugintypes:
        for i in range(rng.randint(8, 40)):
            name = "%s%d" % (rng.choice(WORDS).strip("$_"), i)
            for sd in subdirs:
                dirs.append("%s/%s%s" % (pt, name, "/" + sd if sd else ""))
    avg = total // nfiles
    written = 0
    for i in range(nfiles):
        d = dirs[i % len(dirs)] if i < len(dirs) else rng.choice(dirs)
        roll = rng.random()
        if "pix" in d or "fonts" in d or roll < 0.08:
            ext, kind = rng.choice([".png", ".svg", ".woff2", ".gif"]), "bin"
        elif "amd" in d:
            ext, kind = ".js", "js"
        elif "templates" in d:
            ext, kind = ".mustache", "mustache"
        elif "lang" in d:
            ext, kind = ".php", "lang"
        elif roll < 0.12:
            ext, kind = ".css", "css"
        else:
            ext, kind = ".php", "php"
        # sizes: mostly small, a long tail of big files, averaging `avg`
        size = int(rng.expovariate(1.0 / avg))
        remaining = total - written
        size = max(16, min(size, remaining - 16 * (nfiles - i - 1), 8 * 1024 * 1024))
        path = os.path.join(root, d, "f%05d%s" % (i, ext))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = rng.randbytes(size) if kind == "bin" else text(rng, size, kind)
        with open(path, "wb") as f:
            f.write(data)
        if ext == ".php" and d.endswith("admin/cli"):
            os.chmod(path, 0o755)
        written += size
    with open(os.path.join(root, "appspec.yml"), "w") as f:
        f.write("version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/moodle\n")
    print("%s: %d files, %.1f MB" % (root, nfiles + 1, written / 1048576.0))


if __name__ == "__main__":
    main()
