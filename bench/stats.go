package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the q-quantile (0 < q <= 1) of sorted, an ascending
// slice, by the nearest-rank method: the smallest value that at least a
// fraction q of the values do not exceed. It is exact (no interpolation,
// no sketch) and returns 0 for an empty slice.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// Median returns the median of xs (the mean of the two middle values for an
// even count), or 0 for none. It does not change xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// latencyFigures adds the p50, p99 and max of ds (sorting it) to f, in
// milliseconds, under prefix + "p50_ms" and so on.
func latencyFigures(f Figures, prefix string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	f[prefix+"p50_ms"] = ms(Percentile(ds, 0.50))
	f[prefix+"p99_ms"] = ms(Percentile(ds, 0.99))
	if len(ds) > 0 {
		f[prefix+"max_ms"] = ms(ds[len(ds)-1])
	} else {
		f[prefix+"max_ms"] = 0
	}
}
