#!/bin/sh
# Build the clusterdns image: stage its root filesystem (the static release binary with its
# file capability, and a CA bundle) in target/rootfs, then build deploy/image/Containerfile
# from it. This is the command operators run and the one CI runs (deploy/image/check.sh).
#
# usage: deploy/image/build.sh [TAG [BUILD-COMMAND...]]      (from the repository root)
#   TAG            default localhost/clusterdns:0.1.0 (the name deploy/ uses)
#   BUILD-COMMAND  default: the first of `podman build`, `buildah bud`, `docker build` found
# needs: cargo, readelf, setcap, a CA bundle (stage-rootfs.sh), and podman, buildah or docker.
set -eu
cd "$(dirname "$0")/../.."
tag=${1:-localhost/clusterdns:0.1.0}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
    if command -v podman >/dev/null; then set -- podman build
    elif command -v buildah >/dev/null; then set -- buildah bud
    elif command -v docker >/dev/null; then set -- docker build
    else
        echo "build.sh: none of podman, buildah, docker found" >&2
        exit 1
    fi
fi
deploy/image/stage-rootfs.sh target/rootfs
"$@" -f deploy/image/Containerfile -t "$tag" target/rootfs
