#!/usr/bin/env bash
# System packages the tests use: Chromium and a font with Chinese and Japanese glyphs (browser
# tests, screenshots), Redis and PostgreSQL (storage and multi-process tests). Installed from Debian's packages when missing and when we are root;
# otherwise the tests that need them skip with a message saying so.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -n "$(fc-list :lang=zh 2>/dev/null | head -n1)" ] || need+=(fonts-wqy-microhei)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null | head -n1)" ] || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  echo "[system] chromium, a CJK font, redis-server and postgresql present"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "[system] missing ${need[*]} (not root or no apt-get): tests that need them will skip"
  exit 0
fi
echo "[system] installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || echo "[system] install failed: tests that need ${need[*]} will skip"
