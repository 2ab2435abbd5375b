#!/usr/bin/env bash
# footprint.sh compares what each driver costs besides speed: the size of a
# tiny program (tiny/DRIVER: open a database, write, read on 4 connections)
# built as the Dockerfile builds herald (-trimpath -ldflags "-s -w"), its
# cold build time (empty build cache, standard library included), whether
# it cross-compiles, and the memory it holds. Output: results/footprint.txt.
set -uo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p results
exec > >(tee results/footprint.txt)

echo "## binary size (go build -trimpath -ldflags '-s -w')"
build() { # name, env..., then go build flags
	local name=$1; shift
	local envs=()
	while [[ $1 == *=* ]]; do envs+=("$1"); shift; done
	if env "${envs[@]}" go build -trimpath -o "$out/$name" "$@" 2> "$out/$name.err"; then
		printf '%-28s %6.1f MiB   %s\n' "$name" "$(echo "$(stat -c %s "$out/$name") / 1048576" | bc -l)" "${envs[*]}"
	else
		printf '%-28s FAILS: %s   %s\n' "$name" "$(grep -v '^#' "$out/$name.err" | head -1)" "${envs[*]}"
	fi
}
build modernc CGO_ENABLED=0 -ldflags "-s -w" ./tiny/modernc
build ncruces CGO_ENABLED=0 -ldflags "-s -w" ./tiny/ncruces
build mattn CGO_ENABLED=1 -ldflags "-s -w" ./tiny/mattn
build mattn-static CGO_ENABLED=1 -ldflags "-s -w -linkmode external -extldflags -static" ./tiny/mattn
build mattn-nocgo CGO_ENABLED=0 -ldflags "-s -w" ./tiny/mattn
echo
echo "## linkage"
for b in modernc ncruces mattn mattn-static; do printf '%-14s %s\n' "$b" "$(file -b "$out/$b" | cut -d, -f1-2,4-5)"; done
echo
echo "## mattn built with CGO_ENABLED=0 (what the Dockerfile does today) compiles, and fails when it opens a database:"
"$out/mattn-nocgo" 2>&1 | tail -1
echo
echo "## cross-compilation from linux/amd64 (as the Dockerfile's --platform builds do)"
for target in linux/arm64 darwin/arm64 windows/amd64; do
	build "modernc-${target/\//-}" CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} ./tiny/modernc
	build "ncruces-${target/\//-}" CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} ./tiny/ncruces
	build "mattn-${target/\//-}" CGO_ENABLED=1 GOOS=${target%/*} GOARCH=${target#*/} ./tiny/mattn
done
echo
echo "## cold build time (empty GOCACHE, standard library included; module cache warm)"
for d in modernc ncruces mattn; do
	cgo=0; [[ $d == mattn ]] && cgo=1
	s=$(date +%s.%N)
	GOCACHE=$(mktemp -d -p "$out") CGO_ENABLED=$cgo go build -trimpath -o "$out/cold-$d" ./tiny/$d
	printf '%-8s %5.1f s\n' "$d" "$(echo "$(date +%s.%N) - $s" | bc -l)"
done
echo
echo "## memory (tiny program: 100,000 rows written on 1 connection, then read in full on N connections held at once)"
for d in modernc ncruces mattn; do
	for n in 4 16; do
		echo "-- $d, $n connections"
		"$out/$d" -conns "$n" | grep -v '^driver'
	done
done
echo
echo "## SQLite version and compile options"
for d in modernc ncruces mattn; do
	"$out/$d" -options -rows 1 | grep -E '^(driver|compile)' | sed "s/^compile options:/$d compile options:/"
done
