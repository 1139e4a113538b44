#!/bin/sh
# Stage the image's root filesystem in DIR: the release binary linked statically (glibc,
# +crt-static) with cap_net_bind_service as a file capability, so that it binds :53 as user
# 65532 holding only NET_BIND_SERVICE, and the CA bundle for `forward` over TLS. Nothing else:
# no shell, no libc, no passwd file.
#
# usage: deploy/image/stage-rootfs.sh DIR     (from the repository root)
# needs: cargo, readelf (binutils), setcap (libcap2-bin), /etc/ssl/certs/ca-certificates.crt (ca-certificates).
set -eu
out=$1
target=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps crt-static off build scripts and proc macros; no debug info in the image.
RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --locked --target "$target"
binary="target/$target/release/clusterdns"
if readelf -d "$binary" | grep -q NEEDED; then
    echo "$binary is not statically linked" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out/etc/ssl/certs"
cp "$binary" "$out/clusterdns"
setcap cap_net_bind_service=+ep "$out/clusterdns"
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
