#!/bin/sh
# Builds the charm binary and lays out the charm directory charmcraft's `dump` part packs:
#
#   build/charm/dispatch              (Juju's entry point for every hook)
#   build/charm/bin/rust-shop-charm   (the binary)
#   build/charm/metadata.yaml         (the metadata keys of charmcraft.yaml, for running the
#                                     laid-out charm directly; `charmcraft pack` writes its own)
#
# Usage: ./build-charm.sh [OUT_DIR]   (default: build/charm next to this script)
# CHARM_PROFILE=release (default) or another cargo profile; CARGO_TARGET_DIR as usual.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/build/charm"}
profile=${CHARM_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-"$here/target"}

# Not --locked: Cargo.lock pins the crates.io dependencies, and cargo adds to it what the
# path dependency on charm-tracing (this repository) has come to need. A charm depending on
# a published charm-tracing would build --locked.
cargo build --profile "$profile" --manifest-path "$here/Cargo.toml" \
    --target-dir "$target_dir" --bin rust-shop-charm

case "$profile" in
    dev) profile_dir=debug ;;
    *) profile_dir=$profile ;;
esac
mkdir -p "$out/bin"
cp "$target_dir/$profile_dir/rust-shop-charm" "$out/bin/rust-shop-charm"
cp "$here/dispatch" "$out/dispatch"
awk '/^[a-z]/ { keep = ($1 ~ /^(name|summary|description|requires|provides|peers|storage):$/) } keep' \
    "$here/charmcraft.yaml" > "$out/metadata.yaml"
chmod 0755 "$out/dispatch" "$out/bin/rust-shop-charm"
echo "charm laid out in $out" >&2
