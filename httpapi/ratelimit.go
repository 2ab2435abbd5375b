package httpapi

import (
	"container/list"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter is a token bucket per client key: each key may make burst
// requests at once and rps a second after that. It holds at most
// maxClients keys: a key idle long enough for its bucket to be full again
// is forgotten (it would start full anyway), and when all maxClients are
// busy the least recently seen key is forgotten, which gives that client a
// full bucket back early. It starts no goroutine. Safe for concurrent use.
type RateLimiter struct {
	limit      rate.Limit
	burst      int
	maxClients int
	refill     time.Duration    // how long an empty bucket takes to fill
	now        func() time.Time // the clock; tests replace it

	mu      sync.Mutex
	clients map[string]*list.Element // of *bucket
	lru     list.List                // of *bucket, most recently seen first
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter returns a limiter allowing each key rps requests a second
// (math.Inf(1) for no limit) after a burst of burst, remembering at most
// maxClients keys. It returns an error unless rps > 0, burst >= 1 and
// maxClients >= 1.
func NewRateLimiter(rps float64, burst, maxClients int) (*RateLimiter, error) {
	switch {
	case !(rps > 0): // NaN too
		return nil, fmt.Errorf("rate limit: %v requests a second: must be more than 0", rps)
	case burst < 1:
		return nil, fmt.Errorf("rate limit: burst %d: must be at least 1", burst)
	case maxClients < 1:
		return nil, fmt.Errorf("rate limit: %d clients: must be at least 1", maxClients)
	}
	l := &RateLimiter{limit: rate.Limit(rps), burst: burst, maxClients: maxClients, now: time.Now,
		clients: make(map[string]*list.Element)}
	if math.IsInf(rps, 1) {
		l.limit = rate.Inf
	} else {
		l.refill = time.Duration(min(float64(burst)/rps*float64(time.Second), 1<<62)) // about 146 years at most
	}
	return l, nil
}

// Allow takes a token from key's bucket. If there is none it takes nothing
// and returns false and how long until there will be one.
func (l *RateLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(key, now)
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// bucket returns key's bucket, marked seen at now. l.mu is held.
func (l *RateLimiter) bucket(key string, now time.Time) *bucket {
	if e, ok := l.clients[key]; ok {
		b := e.Value.(*bucket)
		b.seen = now
		l.lru.MoveToFront(e)
		return b
	}
	// Forget the keys whose buckets are full again, oldest first, then, if
	// that is not room enough, the least recently seen one.
	for e := l.lru.Back(); e != nil && (now.Sub(e.Value.(*bucket).seen) >= l.refill || l.lru.Len() >= l.maxClients); e = l.lru.Back() {
		delete(l.clients, e.Value.(*bucket).key)
		l.lru.Remove(e)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst), seen: now}
	l.clients[key] = l.lru.PushFront(b)
	return b
}

// clientCount is how many keys l remembers.
func (l *RateLimiter) clientCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// RateLimit serves next the requests l allows, keyed by key(r) (ClientIP
// if key is nil; a key of "" exempts the request, e.g. a health check),
// and answers the others 429 Too Many Requests with a Retry-After in whole
// seconds, at least 1.
func RateLimit(l *RateLimiter, key func(*http.Request) string, next http.Handler) http.Handler {
	if key == nil {
		key = ClientIP
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := key(r)
		if k == "" {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := l.Allow(k)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := max(int64(math.Ceil(wait.Seconds())), 1)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		WriteProblem(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests from %s; retry in %ds", k, secs))
	})
}

// ClientIP is the address of the host r came from: the host part of
// r.RemoteAddr, or RemoteAddr itself if it has none.
//
// It does not read X-Forwarded-For, Forwarded or X-Real-IP: any client can
// send them, so trusting them would let one client pick a fresh key for
// every request (no limit at all) or send requests under another's key
// (using up its allowance) or under maxClients keys (evicting everyone
// else's bucket). Behind a reverse proxy every client shares the proxy's
// address; there, pass RateLimit a key function that reads the entry the
// proxy itself appended (the last one of X-Forwarded-For), and only that.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
