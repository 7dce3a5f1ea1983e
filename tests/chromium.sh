#!/usr/bin/env bash
# Makes Debian's Chromium available for the browser tests (tests/test_report_browser.py), which open
# the HTML reports in it. Part of the README's test command (and so of CI): installs the `chromium`
# package where it is missing and this machine can (apt-get, as root or with password-less sudo).
# Elsewhere it says so and succeeds: the browser tests are then skipped, except with CI set, where
# they fail, so a CI run never passes without them.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
    if [ "${as_root[*]-}" != none ]; then
        echo "tests/chromium.sh: installing Debian's chromium for the browser tests" >&2
        export DEBIAN_FRONTEND=noninteractive
        "${as_root[@]}" apt-get update -qq >/dev/null
        "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
        exit 0
    fi
fi
echo "tests/chromium.sh: /usr/bin/chromium is missing and cannot be installed here;" \
     "the browser tests will be skipped (install Debian's chromium to run them)" >&2
