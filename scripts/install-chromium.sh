#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium (the browser tests drive it through
# Playwright; Playwright's own browser download cannot work on machines without internet).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [[ ! -x "$CHROMIUM" ]]; then
    if [[ "$(id -u)" -eq 0 ]]; then
        echo "install-chromium: $CHROMIUM missing; installing Debian's chromium (about 110 MB)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q chromium
    else
        echo "install-chromium: $CHROMIUM is missing; install it with: sudo apt-get update && sudo apt-get install -y chromium" >&2
        exit 1
    fi
fi
"$CHROMIUM" --version
