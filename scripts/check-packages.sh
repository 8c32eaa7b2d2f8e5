#!/bin/bash
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
# check-packages.sh -- build quiver's Debian packages and check that they install and work.
#
#   scripts/check-packages.sh [--no-chroot] [--keep]
#
# 1. Copies the source tree (tracked and new files, not build folders) to a scratch folder;
#    there `pip install .` (Debian's pip, offline, --no-build-isolation, into a scratch
#    --target) must build a module reporting the version, and `dpkg-buildpackage -us -uc -b`
#    builds libquiver1, libquiver-dev, quiver and python3-quiver.
# 2. lintian on the result: fails on any error; warnings are printed.
# 3. Lists each .deb (dpkg-deb -c) and checks the files each must carry.
# 4. In a fresh Debian bookworm root (debootstrap --variant=minbase, cached as a tarball at
#    $QV_CHROOT_TAR, default /tmp/quiver-pkgcheck-bookworm.tar; needs root and the Debian
#    mirror), installs the .debs with apt-get (which pulls their dependencies) plus gcc,
#    pkg-config and man-db, then: compiles and runs the README's C example with
#    `pkg-config --cflags --libs quiver`, imports the Python module with /usr/bin/python3 and no
#    PYTHONPATH, renders `man quiver`, starts `quiver serve` and asks it /api/v2/version.
#    --no-chroot instead unpacks the .debs (dpkg-deb -x) into a scratch root and runs the same
#    checks against it through PKG_CONFIG_SYSROOT_DIR / LD_LIBRARY_PATH / PYTHONPATH (weaker:
#    the packages' dependencies are not resolved).
# Takes about 3-5 minutes on 2 cores (first run: plus about 3 for debootstrap). Not part of
# scripts/test.sh; the install rules themselves are tested there (tests/install).
# Needs: scripts/install-deps.sh --package (debhelper, dh-python, lintian, debootstrap, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CHROOT=1
KEEP=0
for a in "$@"; do
  case "$a" in
    --no-chroot) CHROOT=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '3,25p' "$0"; exit 0 ;;
    *) echo "check-packages: unknown option $a" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "check-packages: run as root (chroot, mount, apt-get)" >&2; exit 2; }
VERSION=$(sed -n 's/^project(quiver VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$VERSION" ] || { echo "check-packages: no version in CMakeLists.txt" >&2; exit 1; }

WORK=$(mktemp -d /tmp/quiver-pkgcheck.XXXXXX)
ROOTFS="$WORK/root"
cleanup() {
  if mountpoint -q "$ROOTFS/proc" 2>/dev/null; then
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOTFS" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
    done
    umount "$ROOTFS/dev/pts" "$ROOTFS/dev" "$ROOTFS/proc" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "check-packages: kept $WORK"; else rm -rf --one-file-system "$WORK"; fi
}
trap cleanup EXIT
step() { printf '\n==== %s ====\n' "$*"; }
fail() { echo "check-packages: FAIL: $*" >&2; exit 1; }

step "source copy (quiver $VERSION)"
SRC="$WORK/src/quiver-$VERSION"
mkdir -p "$SRC"
git ls-files -z -co --exclude-standard | grep -zv '^tests/js.*/node_modules/' | tar --null -T - -cf - | tar -C "$SRC" -xf -
step "pip install . (Debian's pip, offline, no build isolation) into a scratch target"
t0=$(date +%s)
cp -a "$SRC" "$WORK/pipsrc"
(cd "$WORK/pipsrc" && /usr/bin/python3 -m pip install --no-build-isolation --no-index --no-cache-dir \
   --target "$WORK/pip" . >"$WORK/pip.log" 2>&1) || { tail -n 30 "$WORK/pip.log"; fail "pip install . (log: $WORK/pip.log)"; }
got=$(cd /tmp && env PYTHONPATH="$WORK/pip" /usr/bin/python3 -c "import quiver; print(quiver.__version__)")
[ "$got" = "$VERSION" ] || fail "pip-installed module reports $got"
[ -d "$WORK/pip/quiver-$VERSION.dist-info" ] || fail "no quiver-$VERSION.dist-info"
echo "pip: quiver $got built and installed in $(( $(date +%s) - t0 )) s"
rm -rf "$WORK/pipsrc"

step "dpkg-buildpackage -us -uc -b"
t0=$(date +%s)
(cd "$SRC" && dpkg-buildpackage -us -uc -b >"$WORK/build.log" 2>&1) \
  || { tail -n 40 "$WORK/build.log"; fail "dpkg-buildpackage (log: $WORK/build.log)"; }
echo "built in $(( $(date +%s) - t0 )) s:"
DEBS=()
for p in libquiver1 libquiver-dev quiver python3-quiver; do
  f=$(ls "$WORK/src/${p}_${VERSION}_"*.deb 2>/dev/null | head -n1)
  [ -n "$f" ] || fail "no ${p}_${VERSION}_*.deb"
  DEBS+=("$f")
  echo "  $(basename "$f")"
done

step "lintian (errors fail; warnings listed)"
CHANGES=$(ls "$WORK/src/"*.changes)
set +e
lintian --fail-on error --display-level '>=warning' "$CHANGES" | tee "$WORK/lintian.log"
lrc=${PIPESTATUS[0]}
set -e
[ "$lrc" = 0 ] || fail "lintian reported errors"
echo "lintian: no errors ($(grep -c '^W:' "$WORK/lintian.log" || true) warnings)"

step "package contents (dpkg-deb -c)"
expect() {  # expect DEB PATTERN...
  local deb=$1 list; shift
  list=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for pat in "$@"; do
    grep -Eq "$pat" <<<"$list" || fail "$(basename "$deb") has no file matching $pat"
  done
}
expect "${DEBS[0]}" '^\./usr/lib/x86_64-linux-gnu/libquiver\.so\.0$' '^\./usr/lib/x86_64-linux-gnu/libquiver\.so\.'"$VERSION"'$'
expect "${DEBS[1]}" '^\./usr/include/quiver\.h$' '^\./usr/include/quiver_version\.h$' \
  '/libquiver\.a$' '/libquiver\.so$' '/pkgconfig/quiver\.pc$' '/cmake/quiver/quiverConfig\.cmake$' \
  '/cmake/quiver/quiverConfigVersion\.cmake$' '/cmake/quiver/quiverTargets\.cmake$' '/man3/quiver\.3\.gz$'
expect "${DEBS[2]}" '^\./usr/bin/quiver$' '/man1/quiver\.1\.gz$'
expect "${DEBS[3]}" '^\./usr/lib/python3/dist-packages/quiver\.cpython-[0-9]+-x86_64-linux-gnu\.so$'
for d in "${DEBS[@]}"; do echo "  $(basename "$d"): $(dpkg-deb -c "$d" | wc -l) entries, ok"; done

# The README's C example, wrapped in main() as tests/docs/test_readme.py does.
/usr/bin/python3 - "$ROOT/README.md" "$WORK/example.c" <<'PY'
import re, sys
(code,) = re.findall(r"```c\n(.*?)```", open(sys.argv[1]).read(), re.S)
inc = "\n".join(l for l in code.splitlines() if l.startswith("#include"))
body = "\n".join(l for l in code.splitlines() if not l.startswith("#include"))
open(sys.argv[2], "w").write("%s\n#include <stdio.h>\nint main(void) {\n%s\n  return rc == QV_OK ? 0 : 1;\n}\n" % (inc, body))
PY

# The checks, run in the installed system (chroot) or against the unpacked packages.
cat >"$WORK/checks.sh" <<'EOS'
#!/bin/bash
set -euo pipefail
VERSION=$1 EX=$2
cd "$(mktemp -d)"
echo "-- C: README example with \$(pkg-config --cflags --libs quiver) = $(pkg-config --cflags --libs quiver)"
cc -std=c11 -Wall -Werror "$EX" -o example $(pkg-config --cflags --libs quiver)
dyn=$(readelf -d example)
grep -q 'NEEDED.*libquiver\.so\.1' <<<"$dyn" || { echo "example does not use libquiver.so.1"; exit 1; }
./example
[ "$(pkg-config --modversion quiver)" = "$VERSION" ] || { echo "quiver.pc version differs"; exit 1; }
# installed: no PYTHONPATH at all; staged (--no-chroot): PYTHONPATH points into the staging root
PY_ENV=(env -u PYTHONPATH)
[ "${QV_STAGED:-0}" = 1 ] && PY_ENV=(env)
echo "-- Python: import quiver (${PY_ENV[*]})"
"${PY_ENV[@]}" /usr/bin/python3 -c "
import quiver, sys
assert quiver.__version__ == sys.argv[1], quiver.__version__
db = quiver.Database(); c = db.create_collection('d', 2); c.add(['a'], [[1.0, 0.0]])
print(quiver.__file__, c.query([[1.0, 0.0]], n_results=1)['ids'])" "$VERSION"
echo "-- man quiver"
# whole pages first: `man | grep -q` would fail under pipefail when grep stops reading early
page1=$(man quiver 2>/dev/null | sed 's/.\x08//g')
page3=$(man 3 quiver 2>/dev/null | sed 's/.\x08//g')
grep -q 'quiver serve' <<<"$page1" || { echo "man quiver: no page"; exit 1; }
grep -q 'qv_db_open' <<<"$page3" || { echo "man 3 quiver: no page"; exit 1; }
echo "   man quiver: $(wc -l <<<"$page1") lines; man 3 quiver: $(wc -l <<<"$page3") lines"
echo "-- quiver --version: $(quiver --version)"
[ "$(quiver --version)" = "quiver $VERSION (libquiver $VERSION)" ] || { echo "quiver --version differs"; exit 1; }
echo "-- quiver serve"
/usr/bin/python3 - "$VERSION" <<'PY'
import json, os, socket, subprocess, sys, tempfile, time, urllib.request
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
p = subprocess.Popen(["quiver", "serve", "--data", d + "/data", "--port", str(port), "--log-level", "warn"])
try:
    for _ in range(200):
        try:
            v = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v2/version" % port, timeout=2))
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("quiver serve did not answer")
    assert v == sys.argv[1], v
    print("   quiver serve on 127.0.0.1:%d answers version %s" % (port, v))
finally:
    p.terminate()
    assert p.wait(timeout=30) == 0, "quiver serve exited %s" % p.returncode
PY
echo "checks: all passed"
EOS
chmod +x "$WORK/checks.sh"

if [ "$CHROOT" = 1 ]; then
  step "fresh bookworm root: apt-get install the packages, then the checks"
  TAR=${QV_CHROOT_TAR:-/tmp/quiver-pkgcheck-bookworm.tar}
  if [ ! -f "$TAR" ]; then
    command -v debootstrap >/dev/null || fail "debootstrap missing (scripts/install-deps.sh --package)"
    echo "building the base root once (debootstrap --variant=minbase bookworm, ~3 min) -> $TAR"
    b="$WORK/base"
    debootstrap --variant=minbase bookworm "$b" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
      || fail "debootstrap (log: $WORK/debootstrap.log)"
    tar -C "$b" -cf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
    rm -rf --one-file-system "$b"
  fi
  mkdir -p "$ROOTFS"
  tar -C "$ROOTFS" -xf "$TAR"
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  [ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$ROOTFS/etc/apt/sources.list.d/" \
    && rm -f "$ROOTFS/etc/apt/sources.list"
  mkdir -p "$ROOTFS/tmp/debs"
  cp "${DEBS[@]}" "$ROOTFS/tmp/debs/"
  cp "$WORK/example.c" "$WORK/checks.sh" "$ROOTFS/tmp/"
  mount -t proc proc "$ROOTFS/proc"
  mount --bind /dev "$ROOTFS/dev"
  mount --bind /dev/pts "$ROOTFS/dev/pts"
  t0=$(date +%s)
  chroot "$ROOTFS" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/debs/*.deb gcc libc6-dev pkg-config man-db binutils' \
    >"$WORK/chroot-apt.log" 2>&1 || { tail -n 30 "$WORK/chroot-apt.log"; fail "apt-get install in the fresh root"; }
  echo "installed in the fresh root in $(( $(date +%s) - t0 )) s:"
  chroot "$ROOTFS" dpkg-query -W -f='  ${Package} ${Version}\n' libquiver1 libquiver-dev quiver python3-quiver
  chroot "$ROOTFS" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    /tmp/checks.sh "$VERSION" /tmp/example.c || fail "checks in the fresh root"
else
  step "unpacked packages (dpkg-deb -x; --no-chroot), then the checks"
  ST="$WORK/stage"
  for d in "${DEBS[@]}"; do dpkg-deb -x "$d" "$ST"; done
  # pkg-config's answers carry the staging root; quiver.pc itself says prefix=/usr
  PKG_CONFIG_SYSROOT_DIR="$ST" PKG_CONFIG_PATH="$ST/usr/lib/x86_64-linux-gnu/pkgconfig" \
  LD_LIBRARY_PATH="$ST/usr/lib/x86_64-linux-gnu" PYTHONPATH="$ST/usr/lib/python3/dist-packages" \
  MANPATH="$ST/usr/share/man" PATH="$ST/usr/bin:$PATH" QV_STAGED=1 \
    "$WORK/checks.sh" "$VERSION" "$WORK/example.c" || fail "checks against the unpacked packages"
fi
echo
echo "check-packages: all passed (quiver $VERSION)"
