#!/bin/sh
# Build Cotter's Debian packages from this tree, out of tree: `make deb` and the package tests.
# Usage: debian/build-debs.sh OUTDIR [VERSION]
#   OUTDIR   gets the .deb files (and .ddeb, .changes, .buildinfo, the source package, lintian.txt)
#   VERSION  builds under this version instead of debian/changelog's (an entry is added to the
#            copy's changelog): the package tests build a lower one to upgrade from
# The tracked and untracked-but-not-ignored files of the working tree are built (so uncommitted
# changes are in), in OUTDIR/src, never in the tree itself. Then lintian checks the result:
# lintian.txt holds its output; any error or warning fails the build.
set -eu
out=${1:?usage: build-debs.sh OUTDIR [VERSION]}
version=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)

for tool in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian meson:meson; do
	command -v "${tool%%:*}" >/dev/null 2>&1 ||
		{ echo "build-debs: '${tool%%:*}' is required: apt-get install ${tool#*:}" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/src"
src=$out/src/cotter
mkdir -p "$src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	# shellcheck disable=SC2016 # "$f" belongs to the inner shell
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$src" -xf -
else
	(cd "$top" && tar --exclude='./build*' -cf - .) | tar -C "$src" -xf -
fi

if [ -n "$version" ]; then
	{
		printf 'cotter (%s) UNRELEASED; urgency=medium\n\n' "$version"
		printf '  * Test build of %s under another version (debian/build-debs.sh).\n\n' \
			"$(sed -n '1s/^cotter (\([^)]*\)).*/\1/p' "$src/debian/changelog")"
		printf ' -- %s  %s\n\n' "$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/debian/changelog" | head -n1)" \
			"$(date -R)"
		cat "$src/debian/changelog"
	} >"$src/debian/changelog.new"
	mv "$src/debian/changelog.new" "$src/debian/changelog"
fi

jobs=$(nproc 2>/dev/null || echo 1)
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc --build=full) >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log" >&2; echo "build-debs: dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo \
	"$out"/src/*.dsc "$out"/src/*.tar.* "$out/"
rm -rf "$out/src"

changes=$(ls "$out"/*.changes)
# --fail-on: errors and warnings; pedantic and info tags are printed but do not fail.
if lintian --fail-on error,warning --info --display-info "$changes" >"$out/lintian.txt" 2>&1; then
	echo "build-debs: $(find "$out" -maxdepth 1 -name '*.deb' | wc -l) packages in $out, lintian: no errors, no warnings" >&2
else
	cat "$out/lintian.txt" >&2
	echo "build-debs: lintian found errors or warnings (above; $out/lintian.txt)" >&2
	exit 1
fi
