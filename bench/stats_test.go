package bench

import (
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value is every percentile", []time.Duration{7}, 0.99, 7},
		{"median of 1..100", hundred, 0.50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 0.99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 1, 100 * time.Millisecond},
		{"a tiny q is the min", hundred, 0.0001, time.Millisecond},
		{"p99 of 10 values is the max", hundred[:10], 0.99, 10 * time.Millisecond},
		{"p50 of 4 values is the 2nd", []time.Duration{1, 2, 3, 4}, 0.5, 2},
	} {
		if got := Percentile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("%s: Percentile(q=%v) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
}

func TestMedianOfRounds(t *testing.T) {
	xs := []float64{5, 1, 3}
	if got := Median(xs); got != 3 {
		t.Errorf("Median(5,1,3) = %v, want 3", got)
	}
	if xs[0] != 5 {
		t.Error("Median reordered its argument")
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median(4,1,3,2) = %v, want 2.5", got)
	}
	if got := Median(nil); got != 0 {
		t.Errorf("Median() = %v, want 0", got)
	}
}

func TestLatencyFiguresAreMilliseconds(t *testing.T) {
	f := Figures{}
	latencyFigures(f, "lag_", []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond})
	want := Figures{"lag_p50_ms": 1.5, "lag_p99_ms": 3, "lag_max_ms": 3}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, f[k], v, f)
		}
	}
}

func TestProcessedAtParsesEveryFormHeraldWrote(t *testing.T) {
	want := time.Date(2026, 11, 22, 0, 45, 8, 607000000, time.UTC)
	for _, s := range []string{
		"2026-11-22T00:45:08.607Z",       // SQLite strftime('%Y-%m-%dT%H:%M:%fZ')
		"2026-11-22T00:45:08.607000Z",    // Go, to the microsecond
		"2026-11-22T00:45:08.607Z",       // Go RFC3339Nano trims zeros
		"2026-11-22 00:45:08.607",        // SQLite datetime()
		"2026-11-22T01:45:08.607+01:00",  // another zone
		"2026-11-22T00:45:08.607000000Z", // nanoseconds
	} {
		got, err := parseProcessedAt(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseProcessedAt(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := parseProcessedAt("yesterday"); err == nil {
		t.Error("parseProcessedAt accepted \"yesterday\"")
	}
}
