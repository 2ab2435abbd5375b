//go:build faults || cluster

package faults

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldev/herald/event"
)

// Convergence limits: how long a healed cluster may take to drain and agree,
// and how long the invariants may stay broken once everything has drained.
const (
	convergeTimeout = 120 * time.Second
	brokenWhenIdle  = 15 * time.Second
)

// finish waits until the cluster has drained and every invariant holds,
// measuring the time from since (the end of the load or of the fault), and
// records the test's figures. busDuplicates are republished events the bus
// dropped by their message id, which the test counted itself.
func (c *cluster) finish(l *load, since time.Time, exp expectations, busDuplicates int) figures {
	c.t.Helper()
	c.requireServicesUp()
	took := c.waitConverged(l, since, exp)
	c.sampleQuery()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shop, err := c.streamState(ctx, event.ShopStream)
	if err != nil {
		c.t.Fatal(err)
	}
	dlq, err := c.streamState(ctx, "DLQ")
	if err != nil {
		c.t.Fatal(err)
	}
	okN, failedN, unknownN := l.counts()
	l.checkSignIns(c.t)
	f := figures{Test: c.name, OK: okN, Failed: failedN, Unknown: unknownN, Published: shop.Msgs,
		Duplicates: c.duplicates() + busDuplicates, DeadLettered: dlq.Msgs, Converge: took, MaxLag: int64(c.lag.highest())}
	record(c.t, f)
	return f
}

// requireServicesUp fails the test if a service process is not running.
func (c *cluster) requireServicesUp() {
	c.t.Helper()
	for _, role := range c.serviceRoles() {
		if p := c.proc(role); p == nil || !p.alive() {
			c.t.Fatalf("%s is not running", role)
		}
	}
}

// waitConverged polls until the cluster has drained (every outbox empty, the
// consumers' lag 0, the stream's size stable) and checkInvariants finds
// nothing, and returns the time since since. It fails the test if that does
// not happen within convergeTimeout, or if the invariants stay broken for
// brokenWhenIdle while nothing moves any more.
func (c *cluster) waitConverged(l *load, since time.Time, exp expectations) time.Duration {
	c.t.Helper()
	var last []string
	var idleSince time.Time
	prev := ^uint64(0)
	err := waitFor(convergeTimeout, 200*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.drained(ctx, &prev); err != nil {
			idleSince = time.Time{}
			return err
		}
		last = c.checkInvariants(ctx, l, exp)
		if len(last) == 0 {
			return nil
		}
		if idleSince.IsZero() {
			idleSince = time.Now()
		}
		if time.Since(idleSince) > brokenWhenIdle {
			return errStuck
		}
		return fmt.Errorf("drained, but %d invariants are broken", len(last))
	})
	if err != nil {
		c.t.Fatalf("%s did not converge: %v\n  %s", c.name, err, strings.Join(last, "\n  "))
	}
	return time.Since(since)
}

// errStuck ends waiting early: everything drained, yet the view is wrong.
var errStuck = errors.New("drained, and the invariants stayed broken")

// drained returns nil once every outbox is empty, every consumer (each
// query replica's and orders') has no unacknowledged events, and stream
// SHOP holds as many messages as at the previous call (*prev).
func (c *cluster) drained(ctx context.Context, prev *uint64) error {
	for _, svc := range writeServices {
		n, err := c.outboxPending(svc)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d events wait in the %s outbox", n, svc)
		}
	}
	for _, role := range c.roles("query") {
		if err := c.consumerDone(ctx, consumerOf(role), true); err != nil {
			return err
		}
	}
	if err := c.consumerDone(ctx, "shop-orders", false); err != nil {
		return err
	}
	st, err := c.streamState(ctx, event.ShopStream)
	if err != nil {
		return err
	}
	if st.Msgs != *prev {
		*prev = st.Msgs
		return fmt.Errorf("stream SHOP still changing (%d messages)", st.Msgs)
	}
	return nil
}

// consumerDone returns nil if the durable consumer has no unacknowledged
// events; query says whether its lag counts as the query lag of the figures.
func (c *cluster) consumerDone(ctx context.Context, consumer string, query bool) error {
	lag, err := c.consumerLag(ctx, consumer)
	if err != nil {
		return fmt.Errorf("lag of %s: %w", consumer, err)
	}
	if lag > 0 {
		if query {
			c.lag.note(float64(lag))
		}
		return fmt.Errorf("%s has %d events to go", consumer, lag)
	}
	return nil
}

// outboxPending counts the events waiting in a write service's outbox.
func (c *cluster) outboxPending(service string) (int, error) {
	var n int
	err := c.withWriteDB(service, func(db *sql.DB) error {
		if err := db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n); err != nil {
			return fmt.Errorf("count %s outbox: %w", service, err)
		}
		return nil
	})
	return n, err
}

// checkWrites checks the load's records against the write databases: every
// write answered 2xx is in them (lost = 0), and every write without an
// answer is in them at most once.
func checkWrites(p *problems, ws writeSide, writes []write) {
	okN, unknownN := map[string]int{}, map[string]int{}
	for _, w := range writes {
		switch w.Outcome {
		case unknown:
			unknownN[w.Kind]++
			continue
		case failed:
			continue
		}
		okN[w.Kind]++
		switch w.Kind {
		case opUser:
			if _, found := ws.users[w.ID]; !found {
				p.add("lost: user %d was created (2xx) but is not in the users db", w.ID)
			}
		case opProduct, opUpdate:
			if pr, found := ws.products[w.ID]; !found || pr.Version < w.Version {
				p.add("lost: product %d was written at version %d (2xx); the products db has %+v", w.ID, w.Version, pr)
			}
		case opOrder:
			if o, found := ws.orders[w.ID]; !found || o.UserID != w.UserID || o.ProductID != w.ProductID {
				p.add("lost: order %d (user %d, product %d) was placed (2xx); the orders db has %+v", w.ID, w.UserID, w.ProductID, o)
			}
		}
	}
	cancelled, updates := 0, 0
	for _, o := range ws.orders {
		if o.Cancelled {
			cancelled++
		}
	}
	for _, pr := range ws.products {
		updates += int(pr.Version) - 1
	}
	for kind, made := range map[string]int{opUser: len(ws.users), opProduct: len(ws.products), opUpdate: updates,
		opOrder: len(ws.orders), opCancel: cancelled} {
		if made < okN[kind] || made > okN[kind]+unknownN[kind] {
			p.add("%s writes: the databases hold %d, want between %d (ok) and %d (ok + unknown)", kind, made, okN[kind], okN[kind]+unknownN[kind])
		}
	}
}

// checkLoad checks the load's records against the view of the query role:
// every write answered 2xx is reflected in it (lost = 0).
func checkLoad(p *problems, role string, ws writeSide, rs readSide, answers map[int64][]shown, writes []write) {
	latest := map[int64]write{} // product -> its 2xx write with the highest version
	for _, w := range writes {
		if w.Outcome != ok {
			continue
		}
		switch w.Kind {
		case opUser:
			if _, found := rs.users[w.ID]; !found {
				p.add("lost: user %d was created (2xx) but %s does not know it", w.ID, role)
			}
		case opProduct, opUpdate:
			if w.Version > latest[w.ID].Version {
				latest[w.ID] = w
			}
		case opOrder:
			line, found := rs.lines[w.ID]
			if !found || line.UserID != w.UserID || line.ProductID != w.ProductID {
				p.add("lost: order %d (user %d, product %d) was placed (2xx); %s has %+v", w.ID, w.UserID, w.ProductID, role, line)
			} else if !ws.orders[w.ID].Cancelled && !shows(answers[w.UserID], w.ProductID) {
				p.add("lost: order %d is live but user %d's answer from %s %v lacks product %d", w.ID, w.UserID, role, answers[w.UserID], w.ProductID)
			}
		case opCancel:
			if !rs.lines[w.ID].Cancelled || !ws.orders[w.ID].Cancelled {
				p.add("lost: order %d was cancelled (2xx); %s has %+v, orders db has %+v", w.ID, role, rs.lines[w.ID], ws.orders[w.ID])
			} else if shows(answers[w.UserID], w.ProductID) && !liveOrderOf(ws, w.UserID, w.ProductID) {
				p.add("lost: order %d was cancelled, yet user %d's answer from %s still shows product %d", w.ID, w.UserID, role, w.ProductID)
			}
		}
	}
	for id, w := range latest {
		if q := rs.products[id]; q.Version < w.Version || q.Version == w.Version && (q.Title != w.Title || q.Image != w.Image) {
			p.add("lost: product %d was written at version %d (%q, %q); %s has %+v", id, w.Version, w.Title, w.Image, role, q)
		}
	}
}

// liveOrderOf reports whether the orders db has a placed order of product by user.
func liveOrderOf(ws writeSide, user, product int64) bool {
	for _, o := range ws.orders {
		if o.UserID == user && o.ProductID == product && !o.Cancelled {
			return true
		}
	}
	return false
}
