//go:build faults || cluster

package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// outcome is what a client can know about a write.
type outcome int

const (
	ok      outcome = iota // answered 2xx: the write was made
	failed                 // answered otherwise, or refused the connection: not made
	unknown                // no answer after sending (timeout, reset): made at most once
)

// Write kinds.
const (
	opUser    = "user"    // POST /users
	opProduct = "product" // POST /products
	opUpdate  = "update"  // PUT /products/{id}
	opOrder   = "order"   // POST /orders
	opCancel  = "cancel"  // DELETE /orders/{id}
)

// write is one write the load generator made, and what came of it.
type write struct {
	Kind       string
	Outcome    outcome
	Status     int    // HTTP status; 0 without an answer
	Detail     string // the problem detail of a refused write
	Base       string // the base URL it was sent to: which instance
	Start, End time.Time
	ID         int64 // the user, product or order written; 0 without a 2xx answer
	UserID     int64 // orders
	ProductID  int64 // orders
	Version    int64 // the entity's version after a 2xx write
	Title      string
	Image      string
}

// load drives the four write endpoints at a modest, steady rate from a few
// workers, each with its own seeded random source, and records every write.
// Orders and cancellations pick among users, products and orders that
// earlier writes created. A service with several instances gets its writes
// in turn, skipping instances whose process has exited, as a load balancer
// that checks health would. Its methods are safe for concurrent use.
//
// Each user it signs up (with a password) it signs in at once (POST
// /sessions), and that user's orders and cancellations carry the user's
// own token; the admin token (the operator's) writes products, and the
// orders of a user whose sign-in failed (its service died meanwhile).
type load struct {
	c      *cluster
	client *http.Client
	seed   uint64
	stopCh chan struct{}
	phase  int // how many times the load was resumed
	wg     sync.WaitGroup
	turn   atomic.Uint64 // the next instance of a service with several

	mu        sync.Mutex
	users     []int64 // created with a 2xx answer
	products  []int64
	placed    []int64 // orders placed and not yet picked for cancellation
	writes    []write
	tokens    map[int64]string // user -> the token of its sign-in
	owners    map[int64]int64  // order -> its user
	signInErr error            // why the first failed sign-in failed

	signIns      atomic.Int64 // users signed in
	signInErrors atomic.Int64 // sign-ins that failed
	asUser       atomic.Int64 // orders and cancellations sent with the user's own token
}

// Load shape: workers × perWorker writes per second.
const (
	loadWorkers   = 3
	loadPerWorker = 8
)

// startLoad starts the load generator on c, seeded from the test's name.
func startLoad(t *testing.T, c *cluster) *load {
	l := newLoad(t, c)
	l.start()
	return l
}

// newLoad returns the load generator of c, seeded from the test's name,
// not started yet: its send and keep make and record single writes.
func newLoad(t *testing.T, c *cluster) *load {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return &load{c: c, seed: h.Sum64(), stopCh: make(chan struct{}), tokens: map[int64]string{}, owners: map[int64]int64{},
		// No keep-alive: a refused connection then always means the service
		// is down and nothing was sent.
		client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// start starts the workers.
func (l *load) start() {
	stop, phase := l.stopCh, l.phase
	for w := range loadWorkers {
		l.wg.Go(func() { l.worker(w, phase, stop) })
	}
}

// resume starts the workers again after stop, on the users, products and
// orders made so far, each with a random source and tags of its own.
func (l *load) resume() {
	l.phase++
	l.stopCh = make(chan struct{})
	l.start()
}

// url returns the base URL of service for the next write: its one role's,
// or in turn each live instance's.
func (l *load) url(service string) string {
	roles := l.c.roles(service)
	if len(roles) == 1 {
		return l.c.url(roles[0])
	}
	n := l.turn.Add(1)
	for i := range uint64(len(roles)) {
		role := roles[(n+i)%uint64(len(roles))]
		if p := l.c.proc(role); p != nil && p.alive() {
			return l.c.url(role)
		}
	}
	return l.c.url(roles[n%uint64(len(roles))])
}

// stop stops the workers and waits for their last requests.
func (l *load) stop() {
	close(l.stopCh)
	l.wg.Wait()
}

// worker makes one write per tick until stop is closed. phase is how many
// times the load was resumed before it started.
func (l *load) worker(w, phase int, stop chan struct{}) {
	rng := rand.New(rand.NewPCG(l.seed+uint64(phase), uint64(w)))
	tick := time.NewTicker(time.Second / loadPerWorker)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		tag := fmt.Sprintf("%d-%d", w, n)
		if phase > 0 {
			tag = fmt.Sprintf("%d-%d-%d", phase, w, n)
		}
		l.record(l.step(rng, tag))
	}
}

// step picks a write (users and products first, then a mix) and makes it.
func (l *load) step(rng *rand.Rand, tag string) write {
	l.mu.Lock()
	users, products, placed := len(l.users), len(l.products), len(l.placed)
	l.mu.Unlock()
	switch r := rng.IntN(100); {
	case users < 3 || r < 12:
		return l.createUser(tag)
	case products < 3 || r < 24:
		return l.createProduct(tag)
	case r < 44:
		return l.updateProduct(rng, tag)
	case r < 82 || placed == 0:
		return l.placeOrder(rng)
	default:
		return l.cancelOrder(rng)
	}
}

// createUser signs a user up and, if that was answered 2xx, signs the
// user in at the same instance, keeping the token for its orders.
func (l *load) createUser(tag string) write {
	email, base := "u"+tag+"@example.com", l.url("users")
	w := l.send(opUser, "POST", base+"/users",
		map[string]string{"name": "user " + tag, "email": email, "password": passwordOf(tag)})
	if w.Outcome == ok {
		l.signIn(base, email, passwordOf(tag))
	}
	return w
}

// signIn signs in at base and keeps the user's token; a failure is only
// counted: the user's writes then use the admin token.
func (l *load) signIn(base, email, password string) (session, error) {
	s, err := signIn(l.client, base, email, password)
	if err != nil {
		l.signInErrors.Add(1)
		l.mu.Lock()
		if l.signInErr == nil {
			l.signInErr = err
		}
		l.mu.Unlock()
		return session{}, err
	}
	l.signIns.Add(1)
	l.mu.Lock()
	l.tokens[s.UserID] = s.Token
	l.mu.Unlock()
	return s, nil
}

// tokenFor is the token that writes for user: the user's own, if signed in,
// else the admin's.
func (l *load) tokenFor(user int64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if tok := l.tokens[user]; tok != "" {
		return tok
	}
	return l.c.adminToken
}

func (l *load) createProduct(tag string) write {
	return l.send(opProduct, "POST", l.url("products")+"/products",
		map[string]string{"title": "product " + tag, "image": "p" + tag + ".png"})
}

// updateProduct changes the title, the image or both of a random product.
func (l *load) updateProduct(rng *rand.Rand, tag string) write {
	id, _ := l.pick(rng, &l.products, false) // products only grow, and step made sure of one
	body := map[string]string{}
	switch rng.IntN(3) {
	case 0:
		body["title"] = "retitled " + tag
	case 1:
		body["image"] = "re" + tag + ".png"
	default:
		body["title"], body["image"] = "renamed "+tag, "new"+tag+".png"
	}
	return l.send(opUpdate, "PUT", fmt.Sprintf("%s/products/%d", l.url("products"), id), body)
}

// placeOrder orders a random product for a random user. Orders may not have
// heard of either yet (422): that counts as failed.
func (l *load) placeOrder(rng *rand.Rand) write {
	user, _ := l.pick(rng, &l.users, false) // users and products only grow
	product, _ := l.pick(rng, &l.products, false)
	return l.sendAs(l.tokenFor(user), opOrder, "POST", l.url("orders")+"/orders", map[string]int64{"userId": user, "productId": product})
}

// cancelOrder cancels a random placed order; each order is picked once.
// If another worker took the last one meanwhile, it places an order instead.
func (l *load) cancelOrder(rng *rand.Rand) write {
	id, found := l.pick(rng, &l.placed, true)
	if !found {
		return l.placeOrder(rng)
	}
	l.mu.Lock()
	user := l.owners[id]
	l.mu.Unlock()
	w := l.sendAs(l.tokenFor(user), opCancel, "DELETE", fmt.Sprintf("%s/orders/%d", l.url("orders"), id), nil)
	w.ID = id
	return w
}

// pick returns a random element of *ids, removing it if remove is set, and
// false if *ids is empty (another worker may have emptied it since step
// looked).
func (l *load) pick(rng *rand.Rand, ids *[]int64, remove bool) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(*ids) == 0 {
		return 0, false
	}
	i := rng.IntN(len(*ids))
	id := (*ids)[i]
	if remove {
		(*ids)[i] = (*ids)[len(*ids)-1]
		*ids = (*ids)[:len(*ids)-1]
	}
	return id, true
}

// record keeps w and makes what it created available to later writes.
func (l *load) record(w write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
	if w.Outcome != ok {
		return
	}
	switch w.Kind {
	case opUser:
		l.users = append(l.users, w.ID)
	case opProduct:
		l.products = append(l.products, w.ID)
	case opOrder:
		l.placed = append(l.placed, w.ID)
		l.owners[w.ID] = w.UserID
	}
}

// keep records writes made outside the load (a scenario run before it) for
// the checks, without offering their users, products and orders to the
// load's workers.
func (l *load) keep(ws ...write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, ws...)
}

// send is sendAs with the admin token, except for sign-ups (opUser), which
// need none.
func (l *load) send(kind, method, url string, body any) write {
	token := l.c.adminToken
	if kind == opUser {
		token = ""
	}
	return l.sendAs(token, kind, method, url, body)
}

// sendAs makes one JSON request with token (none if empty) and classifies
// its outcome. A 2xx answer's entity (id, version, title, image, user and
// product) is kept in the write.
func (l *load) sendAs(token, kind, method, url string, body any) write {
	if token != "" && token != l.c.adminToken && (kind == opOrder || kind == opCancel) {
		l.asUser.Add(1)
	}
	w := write{Kind: kind, Start: time.Now()}
	if u, err := neturl.Parse(url); err == nil {
		w.Base = u.Scheme + "://" + u.Host
	}
	defer func() { w.End = time.Now() }()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(withToken(req, token))
	if err != nil {
		w.Outcome, w.End = unknown, time.Now()
		if errors.Is(err, syscall.ECONNREFUSED) {
			w.Outcome = failed
		}
		return w
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	w.Status, w.End = resp.StatusCode, time.Now()
	if err != nil {
		w.Outcome = unknown
		return w
	}
	var answer struct {
		ID, UserID, ProductID, Version int64
		Title, Image, Detail           string
	}
	_ = json.Unmarshal(b, &answer)
	if resp.StatusCode/100 != 2 {
		w.Outcome, w.Detail = failed, answer.Detail
		return w
	}
	w.Outcome, w.ID, w.UserID, w.ProductID, w.Version = ok, answer.ID, answer.UserID, answer.ProductID, answer.Version
	w.Title, w.Image = answer.Title, answer.Image
	return w
}

// all returns a copy of every write so far.
func (l *load) all() []write {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]write(nil), l.writes...)
}

// counts returns how many writes were ok, failed and unknown.
func (l *load) counts() (okN, failedN, unknownN int) {
	for _, w := range l.all() {
		switch w.Outcome {
		case ok:
			okN++
		case failed:
			failedN++
		default:
			unknownN++
		}
	}
	return
}

// okBetween counts ok writes sent and answered within [from, to].
func (l *load) okBetween(from, to time.Time) int {
	n := 0
	for _, w := range l.all() {
		if w.Outcome == ok && !w.Start.Before(from) && !w.End.After(to) {
			n++
		}
	}
	return n
}
