#!/usr/bin/env bash
# Installs what shepard's demo and tests need from outside the Rust toolchain, only when missing:
#   - consul   (Debian's `consul` package, 1.8.7, from the bullseye suite)
#   - promtool (Debian's `prometheus` package)
#   - rsyslogd (Debian's `rsyslog` package: the log-shipping tests start their own instance)
#   - libfaketime (Debian's `faketime` package: the clock tests run an agent on a wall clock
#     minutes off, or stepped while it runs)
#   - node and npm (Debian's `nodejs` and `npm` packages), and in dashboards/node_modules the
#     packages of the dashboards' schema check, pinned by dashboards/package-lock.json (`npm ci`)
# Idempotent: a machine that already has all of them is left untouched.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
# rsyslogd lives in /usr/sbin, which is not on every user's PATH.
have_rsyslogd() { have rsyslogd || [ -x /usr/sbin/rsyslogd ]; }
# The preloadable library, wherever the architecture puts it.
have_faketime() { compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1' >/dev/null; }

ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# The schema check's packages: installed once, exactly as locked.
install_dashboard_check() {
  if [ ! -d "$ROOT/dashboards/node_modules/@grafana/schema" ] || [ ! -d "$ROOT/dashboards/node_modules/typescript" ]; then
    echo "install-deps: installing the dashboards' schema check (npm ci in dashboards/)"
    (cd "$ROOT/dashboards" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

if have consul && have promtool && have_rsyslogd && have_faketime && have npm; then
  install_dashboard_check
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# The bullseye suite is added next to the existing Debian source, reusing its mirror URI, and pinned
# low so that nothing but the packages named below is ever taken from it.
ensure_bullseye_source() {
  local list=/etc/apt/sources.list.d/shepard-bullseye.sources
  local pin=/etc/apt/preferences.d/shepard-bullseye
  [ -f "$list" ] && [ -f "$pin" ] && return 0

  local uri="" keyring=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822 format: the first URIs/Signed-By of the stanza that serves the main archive.
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    keyring=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    # one-line format: "deb [opts] URI suite components"
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file|mirror):/) { print $i; exit } }' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "install-deps: cannot find the Debian mirror URI in /etc/apt/sources.list{,.d/debian.sources}" >&2
    exit 1
  fi
  [ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg

  $SUDO tee "$list" >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bullseye
Components: main
Signed-By: $keyring
SRC
  $SUDO tee "$pin" >/dev/null <<PIN
# Only consul is wanted from bullseye; everything else stays on the machine's own release.
Package: *
Pin: release n=bullseye
Pin-Priority: 100

Package: consul
Pin: release n=bullseye
Pin-Priority: 990
PIN
}

pkgs=()
if ! have consul; then
  ensure_bullseye_source
  pkgs+=(consul)
fi
if ! have promtool; then
  pkgs+=(prometheus)
fi
if ! have_rsyslogd; then
  pkgs+=(rsyslog)
fi
if ! have_faketime; then
  pkgs+=(faketime)
fi
if ! have npm; then
  pkgs+=(nodejs npm)
fi

echo "install-deps: installing ${pkgs[*]}"
$SUDO apt-get update -qq
# prometheus's and rsyslog's postinst would start their daemons (a server on :9090, a system
# syslog); policy-rc.d keeps services from starting.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi

have consul || { echo "install-deps: consul is still missing after install" >&2; exit 1; }
have promtool || { echo "install-deps: promtool is still missing after install" >&2; exit 1; }
have_rsyslogd || { echo "install-deps: rsyslogd is still missing after install" >&2; exit 1; }
have_faketime || { echo "install-deps: libfaketime is still missing after install" >&2; exit 1; }
have npm || { echo "install-deps: npm is still missing after install" >&2; exit 1; }
consul version | head -n 1
promtool --version 2>&1 | head -n 1
{ rsyslogd -v 2>/dev/null || /usr/sbin/rsyslogd -v; } | head -n 1
install_dashboard_check
