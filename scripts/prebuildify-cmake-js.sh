#!/bin/sh
# prebuildify calls `<this> rebuild --target=<v> --devdir=<d> --arch=<a> --release|--debug`;
# drive cmake-js instead of node-gyp (prebuildify has no cmake-js backend). Extra cmake-js flags may
# be given in ONELIP_CMAKE_JS_FLAGS.
set -e
config=Release
arch=
for a in "$@"; do
  case "$a" in
    --debug) config=Debug ;;
    --arch=*) arch="${a#--arch=}" ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
set -- rebuild --config "$config"
[ -n "$arch" ] && set -- "$@" --arch "$arch"
# shellcheck disable=SC2086
exec "$here/node_modules/.bin/cmake-js" "$@" $ONELIP_CMAKE_JS_FLAGS
