#!/usr/bin/env bash
# fuzz-corpus.sh PKGDIR FUZZNAME: copy the inputs `go test -fuzz` found
# interesting (kept in the build cache) into PKGDIR/testdata/fuzz/FUZZNAME,
# so the corpus is committed and every `go test` replays it.
set -euo pipefail
dir=$1 name=$2
pkg=$(cd "$dir" && go list .)
src="$(go env GOCACHE)/fuzz/$pkg/$name"
dst="$dir/testdata/fuzz/$name"
[ -d "$src" ] || { echo "no cached corpus for $pkg $name"; exit 0; }
mkdir -p "$dst"
cp -n "$src"/* "$dst"/ 2>/dev/null || true
echo "$dst: $(ls "$dst" | wc -l) inputs"
