#!/usr/bin/env bash
# Build the operator image from the project's Dockerfile without a Docker engine or a registry:
# Debian's buildah (chroot isolation) on a base made by debootstrap from Debian's own packages.
#
#   tools/image.sh build     build (or reuse) the image; prints its name on stdout
#   tools/image.sh storage   prints the buildah storage options (--root ... --runroot ...) to use it
#
# The Dockerfile is built unchanged except for its PYTHON_IMAGE build argument. Everything is cached under
# ~/.cache/modeldeploy/image (buildah's storage included): the image's tag is a hash of the Dockerfile and
# of every file in the build context, so a warm run reuses it and any change to an input rebuilds.
# Timings and the image size go to stderr; the full build log stays in the cache and is named on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}/image
suite=bookworm  # Debian 12 ships Python 3.11, the version the Dockerfile's default base has
storage=(--root "$cache/storage" --runroot "$cache/run" --storage-driver "${MODELDEPLOY_STORAGE_DRIVER:-overlay}")
packages=(buildah debootstrap uidmap)

say() { echo "modeldeploy-image: $*" >&2; }

ensure_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]}; run: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    exit 2
  fi
  say "installing ${missing[*]} (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}") >"$cache/apt.log" 2>&1 || { say "apt-get failed; see $cache/apt.log"; exit 1; }
}

# The Debian mirror this machine already uses (deb822 "URIs:" or one-line "deb URL suite"), else Debian's.
debian_mirror() {
  local url
  url=$(grep -hs -E '^(URIs:|deb) ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list 2>/dev/null | grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ')
  echo "${url:-http://deb.debian.org/debian}"
}

# The base: a minimal Debian with Python 3.11 and venv, imported into buildah's storage once.
ensure_base() {
  local mirror base_key dir
  mirror=$(debian_mirror)
  base_key=$(echo "$suite minbase python3 python3-venv $mirror" | sha256sum | cut -c1-12)
  base="localhost/modeldeploy-base:$suite-$base_key"
  if buildah "${storage[@]}" inspect --type image "$base" >/dev/null 2>&1; then return 0; fi
  say "making the base image $base with debootstrap ($mirror)"
  local start=$SECONDS
  dir="$cache/rootfs-$base_key"
  rm -rf "$dir"
  debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$dir" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { say "debootstrap failed; see $cache/debootstrap.log"; exit 1; }
  # Package caches and lists are only needed to install; an image that never runs apt does not carry them.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -cf "$cache/rootfs-$base_key.tar" .
  local ctr
  ctr=$(buildah "${storage[@]}" from scratch)
  buildah "${storage[@]}" add "$ctr" "$cache/rootfs-$base_key.tar" / >/dev/null
  buildah "${storage[@]}" config --cmd /bin/sh "$ctr"
  buildah "${storage[@]}" commit --rm -q "$ctr" "$base" >/dev/null
  rm -rf "$dir" "$cache/rootfs-$base_key.tar"
  say "base image made in $((SECONDS - start))s"
}

# The build context's files, exactly as .dockerignore's allow-list admits them.
context_hash() {
  (
    cd "$root"
    cat Dockerfile .dockerignore
    find requirements.txt requirements-tfserving.txt pyproject.toml README.md tools/install-operator.sh \
      operator -type f ! -path '*/__pycache__/*' ! -path '*.egg-info*' -print0 | sort -z | xargs -0 sha256sum
    echo "$base"
  ) | sha256sum | cut -c1-16
}

build() {
  mkdir -p "$cache"
  ensure_packages
  ensure_base
  local image log start
  image="localhost/modeldeploy:$(context_hash)"
  if buildah "${storage[@]}" inspect --type image "$image" >/dev/null 2>&1; then
    say "cached $image"
    echo "$image"
    return 0
  fi
  log="$cache/build.log"
  say "building $image (buildah bud --isolation chroot; pip needs PyPI); log: $log"
  start=$SECONDS
  # Machines behind a TLS-inspecting proxy give pip a CA bundle (PIP_CERT); the build's pip gets the same
  # through a pip.conf mounted for the RUN steps only, so the image neither carries it nor differs.
  local mounts=() ca=${PIP_CERT:-}
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    printf '[global]\ncert = /etc/modeldeploy-build-ca.crt\n' >"$cache/pip.conf"
    mounts=(-v "$ca:/etc/modeldeploy-build-ca.crt:ro" -v "$cache/pip.conf:/etc/pip.conf:ro")
  fi
  if ! buildah "${storage[@]}" bud --isolation chroot --network host --layers=false "${mounts[@]}" \
    --build-arg "PYTHON_IMAGE=$base" -f "$root/Dockerfile" -t "$image" "$root" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    say "build failed; full log: $log"
    exit 1
  fi
  # Keep only this build: older images of the operator are unreachable by key once an input changes.
  buildah "${storage[@]}" images --format '{{.Name}}:{{.Tag}}' |
    grep '^localhost/modeldeploy:' | grep -vx "$image" | xargs -r buildah "${storage[@]}" rmi >/dev/null 2>&1 || true
  buildah "${storage[@]}" rmi --prune >/dev/null 2>&1 || true
  local size
  size=$(buildah "${storage[@]}" images --format '{{.Size}}' "$image")
  say "built $image in $((SECONDS - start))s, size $size"
  echo "$image"
}

case "${1:-}" in
  build) build ;;
  storage) echo "${storage[@]}" ;;
  *) echo "usage: $0 build|storage" >&2; exit 2 ;;
esac
