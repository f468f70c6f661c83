#!/bin/sh
# Builds nnvis's WebGL point view from the lockfile into the Python package that ships it
# (nnvis_components/pointview.min.js). Needs Node 18+; installing nnvis does not.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
