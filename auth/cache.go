package auth

import (
	"sync"
	"time"
)

// cacheSize bounds how many verified tokens a Verifier remembers.
const cacheSize = 10_000

// tokenCache remembers verified tokens, keyed by the token string itself,
// until they expire. It keeps two generations of at most size/2 entries:
// when the current one fills up it becomes the previous one and the oldest
// generation is dropped, so memory stays bounded and a token in use is kept
// (a hit in the previous generation moves it to the current one). It is safe
// for concurrent use.
type tokenCache struct {
	mu        sync.RWMutex
	half      int
	cur, prev map[string]cached
}

type cached struct {
	claims *Claims
	kid    string
	until  time.Time // exp plus leeway: when Verify would start refusing it
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	half := max(size/2, 1)
	return &tokenCache{half: half, cur: make(map[string]cached, half)}
}

// get returns the entry for token if it is there and has not expired at now.
func (c *tokenCache) get(token string, now time.Time) (cached, bool) {
	if c == nil {
		return cached{}, false
	}
	c.mu.RLock()
	e, ok := c.cur[token]
	c.mu.RUnlock()
	if ok && now.Before(e.until) {
		return e, true // the common case, under the read lock only
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok = c.cur[token]
	if !ok {
		if e, ok = c.prev[token]; !ok {
			return cached{}, false
		}
		delete(c.prev, token)
		c.putLocked(token, e)
	}
	if !now.Before(e.until) {
		delete(c.cur, token)
		return cached{}, false
	}
	return e, true
}

func (c *tokenCache) put(token string, e cached) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(token, e)
}

func (c *tokenCache) putLocked(token string, e cached) {
	if _, ok := c.cur[token]; !ok && len(c.cur) >= c.half {
		c.prev, c.cur = c.cur, make(map[string]cached, c.half)
	}
	c.cur[token] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cur) + len(c.prev)
}
