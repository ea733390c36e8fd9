#!/usr/bin/env bash
# Installs NVIDIA's perf_analyzer (the Triton benchmarking tool) on Debian 12,
# idempotently, without touching the system's libraries.
#
# The PyPI package perf-analyzer ships only manylinux_2_38 wheels: the binary
# needs glibc >= 2.38 and libstdc++ from GCC >= 13, and Debian 12 has glibc
# 2.36 / GCC 12 (pip there falls back to a useless placeholder 0.1.0). So this
# script
#   1. fetches the pinned wheel with pip (hash-checked) and keeps only its
#      binary, perf_analyzer/bin/perf_analyzer;
#   2. takes libc6, libstdc++6 and libgcc-s1 from Debian 13 (trixie): the
#      InRelease file is checked with gpgv against Debian's archive keyring,
#      Packages.xz against InRelease's SHA256, each .deb against Packages'
#      SHA256. The package versions are whatever trixie holds at install time
#      (recorded in the stamp). The .debs are only extracted (dpkg-deb -x) into
#      a private sysroot, never installed;
#   3. writes $BATON_HOME/bin/perf_analyzer, a wrapper that runs the binary
#      through trixie's dynamic loader with the sysroot first on the library
#      path. libz, libssl3 and libcrypto3 come from Debian 12 (the system).
#      --library-path replaces LD_LIBRARY_PATH for this process only, and
#      processes perf_analyzer might start get the system's loader again.
#
# Result: $BATON_HOME/bin/perf_analyzer (printed on stdout at the end).
# BATON_HOME defaults to ~/.cache/baton. A second run with everything in place
# takes well under a second. BATON_PA_REFRESH=1 forces a reinstall (e.g. to
# pick up a newer trixie point release). Needs: python3 with pip, curl, gpgv,
# xz, dpkg-deb, sha256sum; amd64 only. No root needed.
set -euo pipefail

BATON_HOME=${BATON_HOME:-$HOME/.cache/baton}
PA_VERSION=2.60.0
PA_WHEEL=perf_analyzer-$PA_VERSION-py3-none-manylinux_2_38_x86_64.whl
PA_WHEEL_SHA256=23ef56b107ae9233e5cf09fbdf508dd9b936a52f1bae2f63f53c8117087b3f25
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SUITE=trixie
DEBIAN_KEYRING=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
DEBS=(libc6 libstdc++6 libgcc-s1)
# Bump when what this script lays down changes.
SCRIPT_REV=r1
STAMP_KEY="perf-analyzer=$PA_VERSION suite=$DEBIAN_SUITE debs=${DEBS[*]} rev=$SCRIPT_REV"

prefix="$BATON_HOME/perf-analyzer"
stamp="$prefix/.baton-stamp"
wrapper="$BATON_HOME/bin/perf_analyzer"
libdir_rel=usr/lib/x86_64-linux-gnu

log() { printf 'install-perf-analyzer: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Fast path: stamp (first line is the key), binary and wrapper all present.
if [ "${BATON_PA_REFRESH:-0}" != 1 ] && [ -f "$stamp" ] && [ -x "$wrapper" ] &&
  [ -x "$prefix/bin/perf_analyzer" ] && [ -x "$prefix/sysroot/$libdir_rel/ld-linux-x86-64.so.2" ] &&
  [ "$(head -n1 "$stamp")" = "$STAMP_KEY" ]; then
  echo "$wrapper"
  exit 0
fi

[ "$(uname -m)" = x86_64 ] || die "only x86_64 is supported (this is $(uname -m))"
for tool in python3 curl gpgv xz dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[ -r "$DEBIAN_KEYRING" ] || die "no Debian archive keyring at $DEBIAN_KEYRING (package debian-archive-keyring)"

mkdir -p "$BATON_HOME" "$BATON_HOME/bin"
# One installer at a time; a run that waited finds the work done.
if command -v flock >/dev/null; then
  exec 9>"$BATON_HOME/.perf-analyzer.lock"
  flock 9
  if [ "${BATON_PA_REFRESH:-0}" != 1 ] && [ -f "$stamp" ] && [ -x "$wrapper" ] &&
    [ "$(head -n1 "$stamp")" = "$STAMP_KEY" ]; then
    echo "$wrapper"
    exit 0
  fi
fi
tmp=$(mktemp -d "$BATON_HOME/.perf-analyzer.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage="$tmp/stage"
mkdir -p "$stage/bin" "$stage/sysroot" "$tmp/dl"

check_sha256() { # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "SHA256 mismatch for $1: got $got, want $2"
}
fetch() { # url dest
  curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1" || die "download failed: $1"
}

# 1. The wheel. pip picks the manylinux_2_38 wheel only when told the platform;
# --require-hashes pins its exact bytes.
pip_cmd=(python3 -m pip)
[ -x "$BATON_HOME/venv/bin/pip" ] && pip_cmd=("$BATON_HOME/venv/bin/pip")
log "pip: downloading perf-analyzer==$PA_VERSION"
printf 'perf-analyzer==%s --hash=sha256:%s\n' "$PA_VERSION" "$PA_WHEEL_SHA256" >"$tmp/req.txt"
"${pip_cmd[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux_2_38_x86_64 --python-version 3.11 --implementation py \
  --require-hashes -r "$tmp/req.txt" -d "$tmp/dl" >&2
[ -f "$tmp/dl/$PA_WHEEL" ] || die "pip did not produce $PA_WHEEL"
check_sha256 "$tmp/dl/$PA_WHEEL" "$PA_WHEEL_SHA256"
python3 - "$tmp/dl/$PA_WHEEL" "$stage" <<'EOF'
import sys, zipfile
wheel, stage = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    with z.open("perf_analyzer/bin/perf_analyzer") as src, open(stage + "/bin/perf_analyzer", "wb") as dst:
        dst.write(src.read())
    for n in z.namelist():
        if n.endswith(".dist-info/licenses/LICENSE"):
            with open(stage + "/LICENSE.perf_analyzer", "wb") as dst:
                dst.write(z.read(n))
EOF
chmod 755 "$stage/bin/perf_analyzer"

# 2. trixie's libc6 / libstdc++6 / libgcc-s1, verified along Debian's chain of trust.
log "debian: resolving ${DEBS[*]} in $DEBIAN_SUITE"
fetch "$DEBIAN_MIRROR/dists/$DEBIAN_SUITE/InRelease" "$tmp/InRelease"
gpgv --quiet --keyring "$DEBIAN_KEYRING" --output "$tmp/Release" "$tmp/InRelease" 2>"$tmp/gpgv.log" ||
  { cat "$tmp/gpgv.log" >&2; die "InRelease of $DEBIAN_SUITE failed signature check"; }
grep -qx "Codename: $DEBIAN_SUITE" "$tmp/Release" || die "InRelease is not for $DEBIAN_SUITE"
pkgs_sha=$(awk '/^[^ ]/ { sec = $1 } sec == "SHA256:" && $3 == "main/binary-amd64/Packages.xz" { print $1 }' "$tmp/Release")
[ -n "$pkgs_sha" ] || die "no SHA256 for main/binary-amd64/Packages.xz in InRelease"
fetch "$DEBIAN_MIRROR/dists/$DEBIAN_SUITE/main/binary-amd64/Packages.xz" "$tmp/Packages.xz"
check_sha256 "$tmp/Packages.xz" "$pkgs_sha"
xz -dc "$tmp/Packages.xz" >"$tmp/Packages"

resolved=()
for pkg in "${DEBS[@]}"; do
  # Version, Filename and SHA256 of the (single) stanza for this package.
  read -r ver file sha < <(awk -v p="$pkg" '
    BEGIN { RS = ""; FS = "\n" }
    { name = ""; v = ""; f = ""; s = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^Package: /) name = substr($i, 10)
        else if ($i ~ /^Version: /) v = substr($i, 10)
        else if ($i ~ /^Filename: /) f = substr($i, 11)
        else if ($i ~ /^SHA256: /) s = substr($i, 9)
      }
      if (name == p) { print v, f, s; exit }
    }' "$tmp/Packages") || true
  [ -n "${sha:-}" ] || die "package $pkg not found in $DEBIAN_SUITE's Packages index"
  case "$file" in pool/*.deb) ;; *) die "odd Filename for $pkg: $file" ;; esac
  log "debian: $pkg $ver"
  fetch "$DEBIAN_MIRROR/$file" "$tmp/dl/$pkg.deb"
  check_sha256 "$tmp/dl/$pkg.deb" "$sha"
  dpkg-deb -x "$tmp/dl/$pkg.deb" "$stage/sysroot"
  resolved+=("$pkg=$ver")
  unset ver file sha
done

loader_rel="sysroot/$libdir_rel/ld-linux-x86-64.so.2"
[ -x "$stage/$loader_rel" ] || die "no ld-linux-x86-64.so.2 in the extracted libc6"

# 3. Swap the staged tree in, then write the wrapper (it names $prefix).
{
  echo "$STAMP_KEY"
  echo "wheel=$PA_WHEEL sha256=$PA_WHEEL_SHA256"
  echo "debian=$DEBIAN_MIRROR $DEBIAN_SUITE ${resolved[*]}"
  echo "installed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$stage/.baton-stamp.pending"
rm -rf "$prefix.old"
[ -e "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$stage" "$prefix"
rm -rf "$prefix.old"

shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; } # quote for sh
cat >"$wrapper.tmp" <<EOF
#!/bin/sh
# Generated by deploy/local/install-perf-analyzer.sh: perf_analyzer $PA_VERSION
# (PyPI manylinux_2_38 build) run by Debian $DEBIAN_SUITE's loader and libc,
# which live in $prefix/sysroot.
# $(sed -n 3p "$prefix/.baton-stamp.pending")
exec $(shq "$prefix/$loader_rel") --library-path $(shq "$prefix/sysroot/$libdir_rel") \\
  --argv0 "\$0" $(shq "$prefix/bin/perf_analyzer") "\$@"
EOF
chmod 755 "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"

# Smoke test: the binary links and starts (it prints its version on stderr).
out=$("$wrapper" --version 2>&1) || die "perf_analyzer --version failed: $out"
case "$out" in *"Perf Analyzer Version"*) ;; *) die "unexpected perf_analyzer --version output: $out" ;; esac

mv "$prefix/.baton-stamp.pending" "$stamp"
log "perf_analyzer $PA_VERSION ready (${resolved[*]}); $(du -sh "$prefix" | cut -f1) in $prefix"
echo "$wrapper"
