#!/bin/sh
# Runs Tessera's load harness from anywhere: `bench/run.sh [scenario...] [--secs N]`.
# The same as `cargo run --release -p tessera-bench -- ...` from the repository root.
set -eu
cd "$(dirname "$0")/.."
exec cargo run --release -p tessera-bench -- "$@"
