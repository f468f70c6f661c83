#!/bin/sh
# Builds nnvis's WebGL point view from the lockfile into the Python package that ships it:
#   components/pointview/build.sh [OUTFILE]   (default: nnvis_components/pointview.min.js)
# Needs Node 18+ and npm; installing nnvis does not (the built bundle is committed).
set -eu
cd "$(dirname "$0")"
out="${1:-../../nnvis_components/pointview.min.js}"
npm ci --no-audit --no-fund --loglevel=error
npx --no-install esbuild src/index.js --bundle --minify --format=iife --target=es2019 --legal-comments=none \
  --log-level=warning --outfile="$out"
