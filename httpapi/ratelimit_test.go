package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake time for a RateLimiter: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestLimiter(t *testing.T, rps float64, burst, maxClients int) (*RateLimiter, *clock) {
	t.Helper()
	l, err := NewRateLimiter(rps, burst, maxClients)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now = c.now
	return l, c
}

func TestRateLimiterAllowsABurstThenTheRate(t *testing.T) {
	l, c := newTestLimiter(t, 2, 3, 10) // 2 a second, 3 at once
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request at once: ok %v, retry after %s; want refused, 500ms", ok, wait)
	}
	// A refusal takes no token: the wait does not grow.
	if _, again := l.Allow("a"); again != wait {
		t.Errorf("retry after %s on a second refusal, want %s again", again, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key was refused: keys must not share a bucket")
	}
	c.advance(499 * time.Millisecond)
	if ok, wait := l.Allow("a"); ok || wait != time.Millisecond {
		t.Errorf("1ms early: ok %v, retry after %s; want refused, 1ms", ok, wait)
	}
	c.advance(time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused once a token was due")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("allowed a second request on one token")
	}
}

func TestRateLimiterRemembersAtMostMaxClients(t *testing.T) {
	l, c := newTestLimiter(t, 1, 1, 100)
	for i := range 10_000 {
		l.Allow(fmt.Sprint("client-", i))
		c.advance(time.Microsecond) // all still busy: their buckets are empty
	}
	if n := l.clientCount(); n != 100 {
		t.Errorf("%d clients remembered, want 100", n)
	}
}

func TestRateLimiterForgetsTheLeastRecentlySeenWhenFull(t *testing.T) {
	l, c := newTestLimiter(t, 1, 1, 2)
	l.Allow("a")
	l.Allow("b")
	c.advance(100 * time.Millisecond)
	l.Allow("a") // a is seen again (and refused): b is now the oldest
	l.Allow("c") // no room: b goes
	if ok, _ := l.Allow("a"); ok {
		t.Error("a was forgotten (its empty bucket refilled early); b should have been")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("b was remembered; it should have been forgotten for c and start full")
	}
}

func TestRateLimiterForgetsIdleClients(t *testing.T) {
	l, c := newTestLimiter(t, 10, 5, 1000) // an empty bucket refills in 500ms
	for i := range 50 {
		l.Allow(fmt.Sprint("client-", i))
	}
	c.advance(499 * time.Millisecond)
	l.Allow("new")
	if n := l.clientCount(); n != 51 {
		t.Errorf("%d clients before their buckets refilled, want 51", n)
	}
	c.advance(time.Millisecond)
	l.Allow("newer")
	if n := l.clientCount(); n != 2 {
		t.Errorf("%d clients once 50 buckets refilled, want 2 (new and newer)", n)
	}
}

func TestRateLimiterIsSafeForConcurrentUse(t *testing.T) {
	// The clock stands still: only the bursts pass. With room for every
	// key, each gets exactly its burst; with room for half, keys are
	// forgotten and start again full, so each gets at least its burst.
	for _, maxClients := range []int{8, 4} {
		l, _ := newTestLimiter(t, 1, 50, maxClients)
		var allowed [8]atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for range 100 {
					k := g % 8
					if ok, _ := l.Allow(fmt.Sprint(k)); ok {
						allowed[k].Add(1)
					}
				}
			})
		}
		wg.Wait()
		for k := range allowed {
			n := allowed[k].Load()
			if n < 50 || maxClients == 8 && n != 50 {
				t.Errorf("room for %d keys: key %d allowed %d times, want its burst of 50", maxClients, k, n)
			}
		}
	}
}

func TestNewRateLimiterRefusesNonsense(t *testing.T) {
	for _, c := range []struct {
		rps               float64
		burst, maxClients int
	}{{0, 1, 1}, {-1, 1, 1}, {math.NaN(), 1, 1}, {1, 0, 1}, {1, 1, 0}} {
		if _, err := NewRateLimiter(c.rps, c.burst, c.maxClients); err == nil {
			t.Errorf("NewRateLimiter(%v, %d, %d) = nil error", c.rps, c.burst, c.maxClients)
		}
	}
	l, err := NewRateLimiter(math.Inf(1), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("an infinite rate refused a request")
		}
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	l, c := newTestLimiter(t, 0.4, 1, 10) // a token every 2.5s
	var served int
	h := RateLimit(l, nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ }))
	get := func(remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "203.0.113.9") // not trusted: not the key
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := get("127.0.0.1:5000"); w.Code != http.StatusOK {
		t.Fatalf("first request: %d", w.Code)
	}
	w := get("127.0.0.1:5001") // another port, the same client
	checkProblem(t, w, http.StatusTooManyRequests, "too many requests from 127.0.0.1; retry in 3s", "")
	if ra := w.Header().Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After %q, want 3 (2.5s rounded up)", ra)
	}
	c.advance(2499 * time.Millisecond)
	w = get("127.0.0.1:5002")
	checkProblem(t, w, http.StatusTooManyRequests, "retry in 1s", "")
	if ra := w.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q 1ms before the token, want 1 (never 0)", ra)
	}
	if w := get("[::1]:5000"); w.Code != http.StatusOK {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	if served != 2 {
		t.Errorf("handler served %d requests, want 2", served)
	}

	// A key of "" exempts the request.
	exempt := RateLimit(l, func(*http.Request) string { return "" }, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ }))
	for range 10 {
		exempt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/livez", nil))
	}
	if served != 12 {
		t.Errorf("exempt requests: handler served %d in all, want 12", served)
	}
}

func TestClientIPIsTheRemoteHostOnly(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:1234":     "192.0.2.1",
		"[2001:db8::1]:443":  "2001:db8::1",
		"[fe80::1%eth0]:443": "fe80::1%eth0",
		"@":                  "@", // a Unix socket's peer has no port
		"":                   "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		r.Header.Set("X-Real-IP", "198.51.100.8")
		if got := ClientIP(r); got != want {
			t.Errorf("ClientIP(%q) = %q, want %q", remote, got, want)
		}
	}
}
