#!/usr/bin/env bash
# Fills the GPU kit's ignored folders on a machine that reaches PyPI: the wheels of carried.txt
# (cp312, manylinux x86-64, no dependencies) in benchmarks/gpu/wheels and MNIST in
# benchmarks/gpu/data/mnist. Run from the repository root:  bash benchmarks/gpu/prepare.sh [MNIST_DIR]
set -euo pipefail
KIT=benchmarks/gpu
MNIST=${1:-../shared/data/mnist}
rm -rf "$KIT/wheels" && mkdir -p "$KIT/wheels" "$KIT/data"
pip download --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any --no-deps --dest "$KIT/wheels" $(grep -v '^#' "$KIT/carried.txt" | cut -d' ' -f1)
rm -rf "$KIT/data/mnist" && mkdir -p "$KIT/data/mnist"
cp "$MNIST"/*-ubyte.gz "$KIT/data/mnist/" && chmod u+w "$KIT"/data/mnist/*
ls -l "$KIT/wheels" "$KIT/data/mnist"
du -cb "$KIT/wheels" "$KIT/data" | awk 'END { printf "carried: %.1f MiB (limit 60 MiB)\n", $1 / 1048576 }'
