package auth

// WithoutCache makes v check every token in full, for benchmarks.
func WithoutCache(v *Verifier) { v.cache = nil }

// Cached reports how many tokens v remembers.
func Cached(v *Verifier) int { return v.cache.len() }

// SetCacheSize makes v remember at most n tokens.
func SetCacheSize(v *Verifier, n int) { v.cache = newTokenCache(n) }
