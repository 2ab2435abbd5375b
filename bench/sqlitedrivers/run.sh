#!/usr/bin/env bash
# run.sh measures Herald's SQLite workloads on the three drivers, the
# drivers alternating (each workload runs on modernc, ncruces, mattn, then
# the next workload, then the next round), so that the noise of a shared
# machine spreads evenly over them. It writes go test's raw output to
# results/raw/ROUND-DRIVER-WORKLOAD.txt, the machine to results/machine.txt,
# and the tables of the README to results/report.md (go run ./report
# results/raw), which it also prints.
#
#   ./run.sh                 # 5 rounds, about 7 minutes on 2 shared cores
#   ROUNDS=3 ./run.sh        # issue 19's -count 3, about 4 minutes
#   APPLY=1000x CREATE=3000x READ=100000x ./run.sh   # the defaults
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-5}
APPLY=${APPLY:-1000x}   # transactions of 256 events
CREATE=${CREATE:-3000x} # transactions of 16 orders
READ=${READ:-100000x}   # reads
DRIVERS="modernc ncruces mattn"

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for d in $DRIVERS; do
	CGO_ENABLED=1 go test -c -o "$bin/$d.test" "./$d"
done

rm -rf results/raw
mkdir -p results/raw
{
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "kernel: $(uname -sr)"
	echo "go: $(go version)"
	echo "gcc: $(gcc --version | head -1)"
	echo "filesystem of the temporary directory: $(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2, $1}')"
	echo "settings: ROUNDS=$ROUNDS APPLY=$APPLY CREATE=$CREATE READ=$READ"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > results/machine.txt

# busy prints the jiffies (1/100 s) the cores have spent busy since boot.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

start=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
	for w in Apply:$APPLY Create:$CREATE Read:$READ; do
		name=${w%%:*} n=${w#*:}
		for d in $DRIVERS; do
			out=results/raw/$round-$d-$name.txt
			echo "round $round: $name on $d ($n)" >&2
			b0=$(busy) t0=$(date +%s.%N)
			/usr/bin/time -f "# maxrss-kib %M
# cpu-s %U %S" -o "$out.time" \
				"$bin/$d.test" -test.run '^$' -test.bench "^Benchmark$name\$" -test.benchtime "$n" > "$out"
			b1=$(busy) t1=$(date +%s.%N)
			cat "$out.time" >> "$out" && rm "$out.time"
			# The cores other processes kept busy meanwhile, on average:
			# the machine's busy time less this test's own CPU time.
			read -r _ _ u s < <(grep '^# cpu-s' "$out")
			echo "# others-cores $(echo "(($b1 - $b0) / 100 - $u - $s) / ($t1 - $t0)" | bc -l | xargs printf '%.2f')" >> "$out"
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> results/machine.txt
echo "measured in $((SECONDS - start)) s" >> results/machine.txt

go run ./report results/raw | tee results/report.md
