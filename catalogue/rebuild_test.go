package catalogue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/shopfold"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// shopWith returns the shop's targets with the query's projection at
// version v.
func shopWith(t *testing.T, v int) []catalogue.Target {
	t.Helper()
	app := shop.App()
	app.Services = slices.Clone(app.Services)
	for i := range app.Services {
		if app.Services[i].Name == "query" {
			app.Services[i].Projection = v
		}
	}
	targets, err := catalogue.Catalogue{app}.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return targets
}

func startShop(t *testing.T, n *testenv.NATS, dir string, v int) *catalogue.Running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := catalogue.Start(ctx, n.Bus, shopWith(t, v), func(catalogue.Target) service.Config {
		return service.Config{DataDir: dir, Addr: "127.0.0.1:0", MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second}
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func stopShop(t *testing.T, r *catalogue.Running) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// TestAChangedProjectionRebuildsItselfAtStartWhileServing: a query whose
// projection version went up rebuilds its read model at start into
// generation 2, answering every read from generation 1 meanwhile, and
// switches to it; its answers then equal a fold of the stream, and a
// restart with the same version rebuilds nothing.
func TestAChangedProjectionRebuildsItselfAtStartWhileServing(t *testing.T) {
	dir := t.TempDir()
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"))
	r := startShop(t, n, dir, 1)
	const users, products, orders = 20, 30, 4000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []bus.Outgoing
	add := func(source, typ string, id int, data any) {
		env, err := event.New(source, typ, fmt.Sprint(id), 1, data)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := env.Encode()
		out = append(out, bus.Outgoing{Subject: event.Subject(typ), ID: env.ID, Data: raw})
	}
	for u := 1; u <= users; u++ {
		add("/shop/users", event.UserCreated, u, map[string]any{"id": u, "name": "u", "email": fmt.Sprintf("u%d@example.com", u)})
	}
	for p := 1; p <= products; p++ {
		add("/shop/products", event.ProductCreated, p, map[string]any{"id": p, "title": fmt.Sprint("product ", p), "image": "p.png"})
	}
	for o := 1; o <= orders; o++ {
		add("/shop/orders", event.OrderCreated, o, map[string]any{"id": o, "userId": 1 + o%users, "productId": 1 + o%products})
	}
	for i := 0; i < len(out); i += 500 {
		for _, err := range n.Bus.PublishAll(ctx, out[i:min(i+500, len(out))]) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	fold := &shopfold.Fold{}
	for _, o := range out {
		e, _ := event.Parse(o.Data)
		fold.Add(e)
	}
	answers := func(url string) error {
		for _, u := range fold.Users() {
			want, _ := fold.Answer(u)
			var got []shopfold.Product
			if err := getJSON(fmt.Sprintf("%s/users/%d/products", url, u), &got); err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("user %d: %v, the fold says %v", u, got, want)
			}
		}
		return nil
	}
	testenv.Eventually(t, time.Minute, func() error { return answers(r.Service("query").URL()) })
	stopShop(t, r)

	// The projection changes: version 2.
	r = startShop(t, n, dir, 2)
	url := r.Service("query").URL() // the address stays across the switch
	var reads, failed atomic.Int64
	var first atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var got []shopfold.Product
			err := getJSON(fmt.Sprintf("%s/users/%d/products", url, 1+i%users), &got)
			reads.Add(1)
			if err != nil || len(got) == 0 {
				failed.Add(1)
				first.CompareAndSwap(nil, fmt.Sprint(err, got))
			}
		}
	})
	var st service.GenerationState
	testenv.Eventually(t, 2*time.Minute, func() error {
		st = service.GenerationState{} // each answer whole: omitted fields stay as they were
		if err := getJSON(url+"/generation", &st); err != nil {
			return err
		}
		if st.Generation != 2 || st.Rebuilding != nil {
			return fmt.Errorf("generation %d, rebuilding %+v", st.Generation, st.Rebuilding)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || reads.Load() == 0 {
		t.Errorf("%d of %d reads failed or came back empty while the query rebuilt itself; the first: %v", failed.Load(), reads.Load(), first.Load())
	}
	if st.Built != 2 || st.Projection != 2 {
		t.Errorf("generation 2 was built by projection %d, the code runs %d; want 2 and 2", st.Built, st.Projection)
	}
	if err := answers(url); err != nil {
		t.Fatal(err)
	}
	stopShop(t, r)

	// The same version again: nothing to rebuild.
	r = startShop(t, n, dir, 2)
	defer stopShop(t, r)
	st = service.GenerationState{}
	if err := getJSON(r.Service("query").URL()+"/generation", &st); err != nil || st.Generation != 2 || st.Rebuilding != nil {
		t.Fatalf("after a restart with the same projection: %+v %v, want generation 2 and no rebuild", st, err)
	}
	if err := answers(r.Service("query").URL()); err != nil {
		t.Fatal(err)
	}
}
