#!/usr/bin/env bash
# Whole-hook benchmarks: builds the example charm traced and untraced (release), then runs
# both side by side. Extra arguments go to the runner (--quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/hook-bench
mkdir -p "$out"
# The charm is a binary of the benches package, so that it is built with its own dependencies
# only (an example of the facade would link the facade's dev-dependencies too).
cargo build --quiet --release -p charm-tracing-benches --bin shop_charm --features untraced
cp target/release/shop_charm "$out/shop_charm_untraced"
cargo build --quiet --release -p charm-tracing-benches --bin shop_charm
cp target/release/shop_charm "$out/shop_charm_traced"
# Both binaries go into the page cache the same way: written back, evicted, then read in
# order. The kernel maps a binary's cached pages around each fault, in the sizes the cache
# holds them in, so a peak RSS otherwise depends on how each file was last written.
for binary in "$out/shop_charm_untraced" "$out/shop_charm_traced"; do
  dd of="$binary" oflag=nocache conv=notrunc,fdatasync count=0 status=none
  dd if="$binary" iflag=nocache count=0 status=none
  cat "$binary" > /dev/null
done
cargo run --quiet --release -p charm-tracing-benches --bin hook_bench -- \
  "$out/shop_charm_traced" "$out/shop_charm_untraced" "$@"
