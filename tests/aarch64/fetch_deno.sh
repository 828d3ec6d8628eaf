#!/usr/bin/env bash
# Fetches Deno's aarch64 Linux build (the npm package @deno/linux-arm64-glibc, the same binary as
# Deno's GitHub release) into dist/deno-aarch64/deno, once, for tests/aarch64/smoke_test.ts.
# Needs npm; the emulator comes from Debian: apt-get install qemu-user-static libc6-arm64-cross.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(deno --version | sed -n 's/^deno \([0-9.]*\).*/\1/p')
target=dist/deno-aarch64
if [ -x "$target/deno" ] && [ "$(cat "$target/version" 2>/dev/null)" = "$version" ]; then exit 0; fi
mkdir -p "$target"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@deno/linux-arm64-glibc@${version}" >/dev/null && tar xzf ./*.tgz)
install -m 755 "$tmp/package/deno" "$target/deno"
echo "$version" > "$target/version"
echo "aarch64 deno ${version} in $target/deno"
