//go:build faults || cluster

package faults

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/heraldev/herald/event"
)

// expectations describe what a test published to stream SHOP itself, next
// to the services' events, and what it expects in the DLQ.
type expectations struct {
	Injected      int            // messages the test published to SHOP
	NewEvents     int            // of those, parseable events with ids no service made
	Applied       int            // of those, events the query service applies (its processed_events)
	OrdersApplied int            // of those, events orders applies (its processed_events)
	DeadLetters   map[string]int // consumer -> messages it must have dead-lettered
	Absent        []int64        // product ids that must not be in the query view
}

// checkInvariants compares every query replica's view with the write
// services' databases, the stream and the load's records, and the replicas'
// views with each other, and returns every broken promise (nil if none).
// Call it once everything has drained.
func (c *cluster) checkInvariants(ctx context.Context, l *load, exp expectations) []string {
	var p problems
	ws, err := c.readWriteSide()
	if err != nil {
		return []string{err.Error()}
	}
	type view struct {
		rs      readSide
		answers map[int64][]shown
	}
	views := map[string]view{}
	roles := c.roles("query")
	for _, role := range roles {
		rs, err := readReplica(c.dir, role)
		if err != nil {
			return []string{err.Error()}
		}
		answers, err := c.answers(ctx, role, ws)
		if err != nil {
			return []string{err.Error()}
		}
		views[role] = view{rs, answers}
		// The read model is the fold of the write databases, row by row.
		p.diff(role+" users vs users db", ws.users, rs.users)
		p.diff(role+" products vs products db", ws.products, rs.products)
		p.diff(role+" order_lines vs orders db", ws.orders, rs.lines)
		for _, u := range slices.Sorted(maps.Keys(ws.users)) {
			if want, got := expectedAnswer(ws, u), answers[u]; !slices.Equal(want, got) {
				p.add("%s: GET /users/%d/products = %v, want %v (from the write databases)", role, u, got, want)
			}
		}
		// Nothing applied twice: one processed event per event committed.
		if want := ws.events() + exp.Applied; rs.processed != want {
			p.add("%s applied %d events (processed_events), want %d", role, rs.processed, want)
		}
		for _, id := range exp.Absent {
			if _, found := rs.products[id]; found {
				p.add("product %d is in the %s view, but must not be", id, role)
			}
		}
		checkLoad(&p, role, ws, rs, answers, l.all())
	}
	// Every replica shows the same: the same rows and the same answers.
	for _, role := range roles[1:] {
		a, b := views[roles[0]], views[role]
		p.diff(role+" users vs "+roles[0], a.rs.users, b.rs.users)
		p.diff(role+" products vs "+roles[0], a.rs.products, b.rs.products)
		p.diff(role+" order_lines vs "+roles[0], a.rs.lines, b.rs.lines)
		for _, u := range slices.Sorted(maps.Keys(a.answers)) {
			if !slices.Equal(a.answers[u], b.answers[u]) {
				p.add("GET /users/%d/products: %s answers %v, %s answers %v", u, roles[0], a.answers[u], role, b.answers[u])
			}
		}
	}
	// Orders heard of every user and product, and applied each event once:
	// it consumes only the created events, one per user and product.
	for _, id := range slices.Sorted(maps.Keys(ws.users)) {
		if !ws.knownUsers[id] {
			p.add("lost: orders never heard of user %d", id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(ws.products)) {
		if !ws.knownProducts[id] {
			p.add("lost: orders never heard of product %d", id)
		}
	}
	if want := len(ws.users) + len(ws.products) + exp.OrdersApplied; ws.ordersProcessed != want {
		p.add("orders applied %d events (processed_events), want %d (one per user and product created)", ws.ordersProcessed, want)
	}
	checkWrites(&p, ws, l.all())
	c.checkStream(ctx, &p, ws, l, exp)
	dl, err := c.deadLetters(ctx)
	if err != nil {
		p.add("read DLQ: %v", err)
	} else if !maps.Equal(dl, exp.DeadLetters) {
		p.add("dead letters by consumer %v, want %v", dl, exp.DeadLetters)
	}
	return p.list
}

// checkStream checks that stream SHOP holds every committed event exactly
// once (plus what the test injected), from sequence 1, and holds the event of
// every write that was answered 2xx.
func (c *cluster) checkStream(ctx context.Context, p *problems, ws writeSide, l *load, exp expectations) {
	msgs, err := c.readStream(ctx, event.ShopStream)
	if err != nil {
		p.add("read stream: %v", err)
		return
	}
	if want := ws.events() + exp.Injected; len(msgs) != want {
		p.add("stream SHOP holds %d messages, want %d (%d committed + %d injected)", len(msgs), want, ws.events(), exp.Injected)
	}
	if len(msgs) > 0 && msgs[0].Sequence != 1 {
		p.add("stream SHOP starts at sequence %d, want 1: events were discarded", msgs[0].Sequence)
	}
	ids, stored := map[string]bool{}, map[string]bool{}
	for _, m := range msgs {
		e, err := event.Parse(m.Data)
		if err != nil {
			continue
		}
		ids[e.ID] = true
		stored[eventKey(e.Type, e.Subject, e.EntityVersion)] = true
	}
	if want := ws.events() + exp.NewEvents; len(ids) != want {
		p.add("stream SHOP holds %d distinct event ids, want %d", len(ids), want)
	}
	for _, w := range l.all() {
		if w.Outcome != ok {
			continue
		}
		if k := okEventKey(w); !stored[k] {
			p.add("%s write %d answered %d but its event %s is not in the stream", w.Kind, w.ID, w.Status, k)
		}
	}
}

// eventKey names an event by type, entity id and version.
func eventKey(typ, subject string, version int64) string {
	return fmt.Sprintf("%s/%s/v%d", typ, subject, version)
}

// okEventKey is the key of the event a 2xx write must have recorded.
func okEventKey(w write) string {
	typ := map[string]string{opUser: event.UserCreated, opProduct: event.ProductCreatedV2, opUpdate: event.ProductUpdatedV2,
		opOrder: event.OrderCreated, opCancel: event.OrderCancelled}[w.Kind]
	return eventKey(typ, strconv.FormatInt(w.ID, 10), w.Version)
}

// shown is one product of a GET /users/{id}/products answer.
type shown struct {
	ID           int64
	Title, Image string
}

// shows reports whether answer lists product.
func shows(answer []shown, product int64) bool {
	return slices.ContainsFunc(answer, func(s shown) bool { return s.ID == product })
}

// answers fetches GET /users/{id}/products from the query role for every
// user of the users db, as the admin.
func (c *cluster) answers(ctx context.Context, role string, ws writeSide) (map[int64][]shown, error) {
	out := map[int64][]shown{}
	for u := range ws.users {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/users/%d/products", c.url(role), u), nil)
		resp, err := c.http.Do(withToken(req, c.adminToken))
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s: GET /users/%d/products answered %d: %s", role, u, resp.StatusCode, b)
		}
		var answer []shown
		if err := json.Unmarshal(b, &answer); err != nil {
			return nil, fmt.Errorf("GET /users/%d/products: %w", u, err)
		}
		out[u] = answer
	}
	return out, nil
}

// expectedAnswer computes GET /users/{u}/products from the write databases:
// the user's products with a placed order, each once, newest order first,
// with the products db's title and image.
func expectedAnswer(ws writeSide, u int64) []shown {
	newest := map[int64]int64{} // product -> its newest live order
	for id, o := range ws.orders {
		if _, known := ws.products[o.ProductID]; o.UserID == u && !o.Cancelled && known {
			newest[o.ProductID] = max(newest[o.ProductID], id)
		}
	}
	ps := slices.Collect(maps.Keys(newest))
	slices.SortFunc(ps, func(a, b int64) int { return cmp.Compare(newest[b], newest[a]) })
	out := []shown{}
	for _, id := range ps {
		out = append(out, shown{ID: id, Title: ws.products[id].Title, Image: ws.products[id].Image})
	}
	return out
}

// problems collects broken promises, keeping the first few of each kind.
type problems struct {
	list []string
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) < 40 {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

// diff reports keys missing from got, extra in got, and different values.
func (p *problems) diff(what string, want, got any) {
	switch w := want.(type) {
	case map[int64]int64:
		diffMaps(p, what, w, got.(map[int64]int64))
	case map[int64]productRow:
		diffMaps(p, what, w, got.(map[int64]productRow))
	case map[int64]orderRow:
		diffMaps(p, what, w, got.(map[int64]orderRow))
	}
}

func diffMaps[V comparable](p *problems, what string, want, got map[int64]V) {
	n := 0
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if g, found := got[id]; !found {
			p.add("%s: %d missing (want %+v)", what, id, want[id])
			n++
		} else if g != want[id] {
			p.add("%s: %d is %+v, want %+v", what, id, g, want[id])
			n++
		}
		if n > 5 {
			return
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		if _, found := want[id]; !found {
			p.add("%s: %d extra (%+v)", what, id, got[id])
			if n++; n > 5 {
				return
			}
		}
	}
}
