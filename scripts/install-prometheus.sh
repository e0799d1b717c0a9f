#!/usr/bin/env bash
# Installs Prometheus and promtool from the distribution's `prometheus` package (Debian
# 12 ships 2.42), which the observability tests and the alert-rule checks run natively.
#
# Idempotent: does nothing when both commands are already on PATH, and nothing (but
# say so) where apt is not available or neither root nor password-less sudo is. It never
# leaves the packaged system service running: the tests start Prometheus themselves, on
# a free port, with the project's configuration; a second one would only hold port 9090.
set -euo pipefail

have_both() { command -v prometheus >/dev/null && command -v promtool >/dev/null; }

if have_both; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-prometheus: prometheus/promtool missing and no apt-get here; install Prometheus 2.x by hand" >&2
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    # Not fatal: the tests that need Prometheus skip and say why.
    echo "install-prometheus: prometheus/promtool missing; run as root: apt-get install prometheus" >&2
    exit 0
  fi
fi

# Keep the package's maintainer scripts from starting the daemon where services are managed
# by invoke-rc.d (containers, chroots): exit code 101 means "action forbidden".
policy=/usr/sbin/policy-rc.d
policy_added=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  policy_added=true
fi
cleanup() { if [ "$policy_added" = true ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show prometheus >/dev/null 2>&1; then
  "${sudo[@]}" apt-get update -qq
fi
# Only the server and promtool: exporters and the alertmanager are not needed here.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Where systemd runs, the package enables and may have started prometheus.service anyway.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  "${sudo[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
elif command -v service >/dev/null; then
  "${sudo[@]}" service prometheus stop >/dev/null 2>&1 || true
fi

if ! have_both; then
  echo "install-prometheus: the prometheus package installed, but prometheus/promtool are not on PATH" >&2
  exit 1
fi
echo "install-prometheus: $(prometheus --version 2>&1 | head -n 1)"
