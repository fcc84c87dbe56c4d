#!/usr/bin/env bash
# Checks that an application depending on corelane resolves our glommio fork, not upstream
# glommio 0.9.0 (which has the lost-wakeup hang fixed by vendor/glommio patch 1).
# `[patch.crates-io]` in our workspace would not reach such an application; the fork being a
# dependency under its own package name does. This builds nothing: it only resolves a scratch
# crate outside the workspace and reads `cargo tree`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

mkdir -p "$scratch/src"
cat > "$scratch/Cargo.toml" <<TOML
[package]
name = "fork-check"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
corelane-redis = { path = "$root/drivers/redis" }
corelane-postgres = { path = "$root/drivers/postgres" }

[workspace]
TOML
echo 'fn main() {}' > "$scratch/src/main.rs"
# Reuse the workspace's lock file so resolution needs no registry access for known versions.
cp "$root/Cargo.lock" "$scratch/Cargo.lock"

tree="$(cd "$scratch" && cargo tree -e normal --prefix none 2>/dev/null || cd "$scratch" && cargo tree -e normal --prefix none)"
if ! grep -q '^corelane-glommio v0.9.0 (' <<<"$tree"; then
    echo "FAIL: corelane-glommio (the fork) is not in the dependency tree" >&2
    exit 1
fi
if grep -q '^glommio v' <<<"$tree"; then
    echo "FAIL: upstream glommio is in the dependency tree:" >&2
    grep '^glommio v' <<<"$tree" >&2
    exit 1
fi
echo "ok: a crate depending on corelane-redis and corelane-postgres builds $(grep '^corelane-glommio v' <<<"$tree" | head -1)"
