// Command report turns the raw output of run.sh into the README's tables:
// for each workload the median over the rounds of each driver's rate, its
// range, and its ratio to modernc's median.
//
//	go run ./report results/raw
//
// It reads every file DIR/ROUND-DRIVER-GROUP.txt: `go test -bench` output,
// plus the line "# maxrss-kib N" run.sh appends (the process's peak RSS).
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var drivers = []string{"modernc", "ncruces", "mattn"}

// rows are the tables' rows: a benchmark and the metric that is its rate
// (higher is better), then its cost per unit (lower is better).
var rows = []struct{ bench, rate, cost, cpu string }{
	{"Apply/sync=FULL", "events/s", "ns/event", "cpu-ns/event"},
	{"Apply/sync=NORMAL", "events/s", "ns/event", "cpu-ns/event"},
	{"Create/sync=FULL", "orders/s", "ns/order", "cpu-ns/order"},
	{"Create/sync=NORMAL", "orders/s", "ns/order", "cpu-ns/order"},
	{"Read/ctx=cancel", "reads/s", "ns/op", "cpu-ns/read"},
	{"Read/ctx=background", "reads/s", "ns/op", "cpu-ns/read"},
}

// values[driver][bench][unit] are the measurements, one per round.
type values map[string]map[string]map[string][]float64

func (v values) add(driver, bench, unit string, x float64) {
	if v[driver] == nil {
		v[driver] = map[string]map[string][]float64{}
	}
	if v[driver][bench] == nil {
		v[driver][bench] = map[string][]float64{}
	}
	v[driver][bench][unit] = append(v[driver][bench][unit], x)
}

var fileName = regexp.MustCompile(`^(\d+)-(\w+)-(\w+)\.txt$`)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: report DIR")
		os.Exit(2)
	}
	v, err := read(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rounds := 0
	for _, u := range v["modernc"] {
		for _, xs := range u {
			rounds = max(rounds, len(xs))
		}
	}
	fmt.Printf("Medians of %d rounds (min–max in brackets); the ratios are each driver's median ÷ modernc's, above 1 = faster than modernc.\n\n", rounds)
	fmt.Println("| workload | modernc | ncruces | mattn | ncruces ÷ modernc | mattn ÷ modernc |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		line := fmt.Sprintf("| %s (%s) |", r.bench, r.rate)
		base := median(v["modernc"][r.bench][r.rate])
		for _, d := range drivers {
			xs := v[d][r.bench][r.rate]
			line += fmt.Sprintf(" %s (%s–%s) |", num(median(xs)), num(slices.Min(orNaN(xs))), num(slices.Max(orNaN(xs))))
		}
		for _, d := range drivers[1:] {
			line += fmt.Sprintf(" %.2f |", median(v[d][r.bench][r.rate])/base)
		}
		fmt.Println(line)
	}
	fmt.Println()
	fmt.Println("Best round of each driver (its least disturbed), and the ratios of those:")
	fmt.Println()
	fmt.Println("| workload | modernc | ncruces | mattn | ncruces ÷ modernc | mattn ÷ modernc |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		line := fmt.Sprintf("| %s (%s) |", r.bench, r.rate)
		for _, d := range drivers {
			line += fmt.Sprintf(" %s |", num(slices.Max(orNaN(v[d][r.bench][r.rate]))))
		}
		base := slices.Max(orNaN(v["modernc"][r.bench][r.rate]))
		for _, d := range drivers[1:] {
			line += fmt.Sprintf(" %.2f |", slices.Max(orNaN(v[d][r.bench][r.rate]))/base)
		}
		fmt.Println(line)
	}
	fmt.Println()
	fmt.Println("Cores that other processes kept busy during each driver's runs (median, max; of 2 cores), from /proc/stat less the test's own CPU time:")
	fmt.Println()
	for _, d := range drivers {
		var all []float64
		for _, g := range []string{"Apply", "Create", "Read"} {
			all = append(all, v[d]["others-cores:"+g]["others-cores"]...)
		}
		fmt.Printf("- %s: %.2f, %.2f\n", d, median(all), slices.Max(orNaN(all)))
	}
	fmt.Println()
	fmt.Println("Cost per event, order or read (medians): wall time; CPU time of the whole process (all cores: so above the wall time where")
	fmt.Println("work runs in parallel, below it where commits wait for fsync); Go heap bytes and allocations; then each driver's CPU time")
	fmt.Println("÷ modernc's, the comparison least disturbed by other processes on the machine; last, the test process's peak RSS.")
	fmt.Println()
	fmt.Println("| workload | modernc | ncruces | mattn | CPU ncruces ÷ modernc | CPU mattn ÷ modernc |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		per := map[string]float64{"Apply": 256, "Create": 16, "Read": 1}[strings.Split(r.bench, "/")[0]]
		line := fmt.Sprintf("| %s |", r.bench)
		for _, d := range drivers {
			m := v[d][r.bench]
			line += fmt.Sprintf(" %.1f µs, CPU %.1f µs, %.0f B, %.0f allocs |", median(m[r.cost])/1e3,
				median(m[r.cpu])/1e3, median(m["B/op"])/per, median(m["allocs/op"])/per)
		}
		for _, d := range drivers[1:] {
			line += fmt.Sprintf(" %.2f |", median(v[d][r.bench][r.cpu])/median(v["modernc"][r.bench][r.cpu]))
		}
		fmt.Println(line)
	}
	line := "| peak RSS of the test process (Apply / Create / Read) |"
	for _, d := range drivers {
		var parts []string
		for _, g := range []string{"Apply", "Create", "Read"} {
			parts = append(parts, fmt.Sprintf("%.0f", median(v[d]["maxrss-kib:"+g]["maxrss-kib"])/1024))
		}
		line += " " + strings.Join(parts, " / ") + " MiB |"
	}
	line += " | |"
	fmt.Println(line)
}

func read(dir string) (values, error) {
	v := values{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		driver, group := m[2], m[3]
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) == 3 && fs[0] == "#" && (fs[1] == "maxrss-kib" || fs[1] == "others-cores") {
				x, _ := strconv.ParseFloat(fs[2], 64)
				v.add(driver, fs[1]+":"+group, fs[1], x)
				continue
			}
			if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") {
				continue
			}
			name := strings.TrimPrefix(fs[0], "Benchmark")
			if i := strings.LastIndex(name, "-"); i > 0 {
				name = name[:i] // the -GOMAXPROCS suffix
			}
			for i := 2; i+1 < len(fs); i += 2 {
				x, err := strconv.ParseFloat(fs[i], 64)
				if err != nil {
					return nil, fmt.Errorf("%s: %q: %w", e.Name(), sc.Text(), err)
				}
				v.add(driver, name, fs[i+1], x)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func orNaN(xs []float64) []float64 {
	if len(xs) == 0 {
		return []float64{0}
	}
	return xs
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// num writes x with three significant digits and a k suffix over 10,000.
func num(x float64) string {
	if x >= 10_000 {
		return strconv.FormatFloat(x/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(x, 'f', 0, 64)
}
