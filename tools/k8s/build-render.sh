#!/usr/bin/env bash
# Builds the chart renderer (tools/k8s/render) into $1, offline.
#
# Debian ships Go libraries as sources under /usr/share/gocode (GOPATH
# layout), without a module cache, and nothing can be downloaded: so the
# renderer builds in GOPATH mode. Go resolves "github.com/.../sprig/v3"
# to Debian's github.com/.../sprig only for code inside a GOPATH ("minimal
# module compatibility"), hence the throwaway GOPATH whose only package is
# a symlink to our sources. GOCACHE lives next to the binary, so a second
# build is a cache hit (~1 s); the first compiles sprig and its
# dependencies (~20 s on 2 cores). go vet and the unit tests run too.
set -euo pipefail
out=${1:?usage: build-render.sh OUTPUT_BINARY}
src=$(cd "$(dirname "$0")/render" && pwd)
case $out in /*) ;; *) out=$PWD/$out ;; esac
work=$(dirname "$out")/render-gopath
mkdir -p "$work/src/swifteats" "$(dirname "$out")"
ln -sfn "$src" "$work/src/swifteats/k8s-render"
export GO111MODULE=off GOFLAGS="" GOPATH="$work:/usr/share/gocode" \
    GOCACHE=${GOCACHE:-$(dirname "$out")/gocache} GOTOOLCHAIN=local CGO_ENABLED=0
# -p 2: the machine has 2 cores, shared.
go build -p 2 -o "$out" swifteats/k8s-render
go vet swifteats/k8s-render
go test -p 2 swifteats/k8s-render
