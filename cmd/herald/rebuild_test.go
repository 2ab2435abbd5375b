package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/shopfold"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// seedShop publishes, as the shop's services would, users users, products
// products and orders orders (order i by user 1+i%users of product
// 1+i%products) straight onto the SHOP stream.
func seedShop(t *testing.T, m *Main, users, products, orders int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var batch []bus.Outgoing
	add := func(source, typ string, id int, data any) {
		env, err := event.New(source, typ, fmt.Sprint(id), 1, data)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := env.Encode()
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, bus.Outgoing{Subject: event.Subject(typ), ID: env.ID, Data: raw})
		if len(batch) == 500 {
			flush(ctx, t, m, &batch)
		}
	}
	for u := 1; u <= users; u++ {
		add("/shop/users", event.UserCreated, u, map[string]any{"id": u, "name": fmt.Sprint("user ", u), "email": fmt.Sprintf("u%d@example.com", u)})
	}
	for p := 1; p <= products; p++ {
		add("/shop/products", event.ProductCreated, p, map[string]any{"id": p, "title": fmt.Sprint("product ", p), "image": fmt.Sprintf("p%d.png", p)})
	}
	for o := 1; o <= orders; o++ {
		add("/shop/orders", event.OrderCreated, 1_000_000+o, map[string]any{"id": 1_000_000 + o, "userId": 1 + o%users, "productId": 1 + o%products})
	}
	flush(ctx, t, m, &batch)
}

func flush(ctx context.Context, t *testing.T, m *Main, batch *[]bus.Outgoing) {
	t.Helper()
	for i, err := range m.bus.PublishAll(ctx, *batch) {
		if err != nil {
			t.Fatalf("publish %s: %v", (*batch)[i].Subject, err)
		}
	}
	*batch = (*batch)[:0]
}

// foldStream folds every event of the SHOP stream.
func foldStream(t *testing.T, m *Main) *shopfold.Fold {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs, err := m.bus.Read(ctx, event.ShopStream, nil, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &shopfold.Fold{}
	for _, msg := range msgs {
		if e, err := event.Parse(msg.Data); err == nil {
			f.Add(e)
		}
	}
	return f
}

// answerOf GETs user's products from the query as tok.
func answerOf(queryURL, tok string, user int64) (int, []shopfold.Product, error) {
	status, body, _ := callAs(tok, http.MethodGet, fmt.Sprintf("%s/users/%d/products", queryURL, user), nil)
	if status != http.StatusOK {
		return status, nil, fmt.Errorf("%d %s", status, body)
	}
	var ps []shopfold.Product
	if err := json.Unmarshal(body, &ps); err != nil {
		return status, nil, err
	}
	return status, ps, nil
}

// sameAsFold fails the test unless the query answers every user as a fold
// of the stream does, waiting for it to catch up.
func sameAsFold(t *testing.T, m *Main, queryURL, tok string) {
	t.Helper()
	eventually(t, 60*time.Second, "the query answers every user as a fold of the stream does", func() (bool, string) {
		f := foldStream(t, m)
		for _, u := range f.Users() {
			want, _ := f.Answer(u)
			_, got, err := answerOf(queryURL, tok, u)
			if err != nil {
				return false, fmt.Sprintf("user %d: %v", u, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return false, fmt.Sprintf("user %d: query %v, fold %v", u, got, want)
			}
		}
		return true, ""
	})
}

// TestRebuildQueryBlueGreenWhileReadsAndWritesGoOn runs herald rebuild
// query against herald up while reads loop on the query and orders keep
// being placed: no read fails, the query then reads generation 2 (the
// first generation's file is gone), and its answers equal a fold of the
// stream, before and after.
func TestRebuildQueryBlueGreenWhileReadsAndWritesGoOn(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir, "shop")
	tok := operatorToken(t, dir)
	const users, products, orders = 40, 60, 6000
	seedShop(t, m, users, products, orders)
	queryURL, ordersURL := m.Service("query").URL(), m.Service("orders").URL()
	sameAsFold(t, m, queryURL, tok)

	var reads, failed atomic.Int64
	var firstFailure atomic.Value
	var placed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // reads in a loop
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, _, err := answerOf(queryURL, tok, 1+i%users)
			reads.Add(1)
			if err != nil {
				failed.Add(1)
				firstFailure.CompareAndSwap(nil, fmt.Sprintf("read %d: %d %v", i, status, err))
			}
		}
	})
	wg.Go(func() { // writes go on
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			status, _, _ := callAs(tok, http.MethodPost, ordersURL+"/orders", map[string]int64{"userId": 1 + i%users, "productId": 1 + (i*7)%products})
			if status == http.StatusCreated {
				placed.Add(1)
			}
		}
	})

	var out, progress bytes.Buffer
	var c cli
	k, err := mustParser(t, &c).Parse([]string{"rebuild", "query", "--nats", m.server.ClientURL(), "--data", dir,
		"--addr", "query=" + strings.TrimPrefix(queryURL, "http://"), "--batch", "100"})
	if err != nil || k.Command() != "rebuild <read-model>" {
		t.Fatalf("parse: %v %s", err, k.Command())
	}
	r := &Main{Log: slog.New(slog.DiscardHandler), Out: &out, Err: &progress}
	rerr := r.Rebuild(context.Background(), c.Rebuild)
	close(stop)
	wg.Wait()
	if rerr != nil {
		t.Fatalf("herald rebuild query: %v\n%s", rerr, progress.String())
	}
	t.Logf("%s%s%d reads during the rebuild, %d orders placed", progress.String(), out.String(), reads.Load(), placed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d reads failed during the rebuild; the first: %v", failed.Load(), reads.Load(), firstFailure.Load())
	}
	if reads.Load() == 0 || placed.Load() == 0 {
		t.Errorf("%d reads and %d orders during the rebuild: the test proved nothing", reads.Load(), placed.Load())
	}
	if !strings.Contains(out.String(), "query now reads generation 2") {
		t.Errorf("herald rebuild said %q", out.String())
	}
	var st service.GenerationState
	if status, b, _ := callAs(tok, http.MethodGet, queryURL+"/generation", nil); status != http.StatusOK || json.Unmarshal(b, &st) != nil || st.Generation != 2 || st.PausedUntil != nil {
		t.Fatalf("GET /generation: %d %s, want generation 2, not paused", status, b)
	}
	gens := store.GenerationsOf(st.First)
	eventually(t, 30*time.Second, "generation 1's file is removed", func() (bool, string) {
		_, err := os.Stat(gens.Path(1))
		return os.IsNotExist(err), fmt.Sprint(err)
	})
	sameAsFold(t, m, queryURL, tok)

	// The new generation is live for good: a restart of the query opens it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.running.StopService(ctx, "query"); err != nil {
		t.Fatal(err)
	}
	if err := m.running.StartService(ctx, "query"); err != nil {
		t.Fatal(err)
	}
	if got := m.Service("query").Store; !strings.Contains(got, "shop-query.g2.db") {
		t.Errorf("after a restart the query opened %s, want generation 2", got)
	}
	sameAsFold(t, m, queryURL, tok)
}

// TestRebuildDryRunChangesNothing: --dry-run counts the events, measures a
// sample, estimates the time and leaves the read model as it was.
func TestRebuildDryRunChangesNothing(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir, "shop")
	tok := operatorToken(t, dir)
	seedShop(t, m, 10, 10, 2000)
	queryURL := m.Service("query").URL()
	sameAsFold(t, m, queryURL, tok)
	var out bytes.Buffer
	var c cli
	if _, err := mustParser(t, &c).Parse([]string{"rebuild", "query", "--dry-run", "--nats", m.server.ClientURL(), "--data", dir,
		"--addr", "query=" + strings.TrimPrefix(queryURL, "http://")}); err != nil {
		t.Fatal(err)
	}
	r := &Main{Log: slog.New(slog.DiscardHandler), Out: &out, Err: io.Discard}
	if err := r.Rebuild(context.Background(), c.Rebuild); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Log(got)
	for _, want := range []string{"generation 1 is live", "would build generation 2", "from SHOP: 2020 events", "events/s here, so about", "nothing was changed"} {
		if !strings.Contains(got, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, got)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".g2.") || strings.HasSuffix(e.Name(), ".live") || strings.Contains(e.Name(), "rebuild-sample") {
			t.Errorf("the dry run left %s", e.Name())
		}
	}
	var st service.GenerationState
	if status, b, _ := callAs(tok, http.MethodGet, queryURL+"/generation", nil); status != http.StatusOK || json.Unmarshal(b, &st) != nil || st.Generation != 1 {
		t.Fatalf("GET /generation: %d %s, want generation 1", status, b)
	}
}

// TestAPauseWithoutASwitchEndsByItself: the live consumers a rebuild
// paused resume when the pause's lease ends (as when the rebuild dies),
// and apply what was written meanwhile; a switch without a pause, or to a
// generation that does not exist, is refused with 409 and changes nothing.
func TestAPauseWithoutASwitchEndsByItself(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir, "shop")
	tok := operatorToken(t, dir)
	seedShop(t, m, 2, 2, 2)
	queryURL := m.Service("query").URL()
	sameAsFold(t, m, queryURL, tok)

	status, b, _ := callAs(tok, http.MethodPost, queryURL+"/generation/switch", map[string]int{"generation": 2})
	if status != http.StatusConflict || !strings.Contains(string(b), "not paused") {
		t.Fatalf("a switch without a pause: %d %s, want 409 saying not paused", status, b)
	}
	var st service.GenerationState
	status, b, _ = callAs(tok, http.MethodPost, queryURL+"/generation/pause", map[string]string{"lease": "2s"})
	if status != http.StatusOK || json.Unmarshal(b, &st) != nil || st.PausedUntil == nil {
		t.Fatalf("pause: %d %s", status, b)
	}
	status, b, _ = callAs(tok, http.MethodPost, queryURL+"/generation/switch", map[string]int{"generation": 2})
	if status != http.StatusConflict || !strings.Contains(string(b), "does not exist") {
		t.Fatalf("a switch to a generation never built: %d %s, want 409", status, b)
	}
	// Written while paused: the query does not apply it until the lease ends.
	seedShop(t, m, 3, 3, 3)
	if _, ps, _ := answerOf(queryURL, tok, 3); len(ps) != 0 {
		t.Errorf("user 3's orders applied while the consumers were paused: %v", ps)
	}
	sameAsFold(t, m, queryURL, tok)
	st = service.GenerationState{}
	if status, b, _ := callAs(tok, http.MethodGet, queryURL+"/generation", nil); status != http.StatusOK || json.Unmarshal(b, &st) != nil || st.PausedUntil != nil || st.Generation != 1 {
		t.Fatalf("after the lease: %d %s, want generation 1, not paused", status, b)
	}
	if status, b, _ := callAs(tok, http.MethodPost, queryURL+"/generation/pause", map[string]string{"lease": "1h"}); status != http.StatusUnprocessableEntity {
		t.Errorf("a lease of an hour: %d %s, want 422", status, b)
	}
}
