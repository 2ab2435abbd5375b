package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
)

// The load stream of the paging tests: a common type, and a rare one at
// every rareEvery-th position.
const (
	loadEvents = 100_000
	rareEvery  = 10_000
	commonType = "load.item.added.v1"
	rareType   = "load.item.rare.v1"
)

// loadedDashboard serves a dashboard of one app whose stream, LOAD, holds
// loadEvents CloudEvents: position i has entity "item-<i>".
func loadedDashboard(t *testing.T) string {
	t.Helper()
	// A server that does not fsync every write: the test is about reading.
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(t.TempDir(), "nats"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b, err := jetstream.New(nc, jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.EnsureStream(ctx, "LOAD", "load.>"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Core NATS publishes, which the stream stores without an
	// acknowledgement each: 100,000 of them take a second, not a minute.
	for i := 1; i <= loadEvents; i++ {
		typ := commonType
		if i%rareEvery == 0 {
			typ = rareType
		}
		data := fmt.Appendf(nil, `{"specversion":"1.0","id":"load-%d","source":"/load","type":%q,"subject":"item-%d","time":%q,"datacontenttype":"application/json","data":{"n":%d},"entityversion":1}`,
			i, typ, i, time.Now().UTC().Format(time.RFC3339Nano), i)
		if err := nc.Publish(event.Subject(typ), data); err != nil {
			t.Fatal(err)
		}
		if i%5000 == 0 { // let the server keep up; a slow consumer is dropped
			if err := nc.FlushWithContext(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	testenv.Eventually(t, time.Minute, func() error {
		last, err := b.LastSeq(ctx, "LOAD")
		if err != nil || last != loadEvents {
			return fmt.Errorf("stream at %d of %d (%v)", last, loadEvents, err)
		}
		return nil
	})
	t.Logf("published %d events in %s", loadEvents, time.Since(start).Round(time.Millisecond))
	return serve(t, Options{
		Catalogue: catalogue.Catalogue{{Name: "load", Stream: "LOAD", Subjects: "load.>"}},
		Bus:       b,
		Ask:       func(context.Context, string, string, any) error { return fmt.Errorf("no services") },
		URL:       func(string) string { return "" },
	})
}

func TestEventsPageA100kStreamNewestFirstWithoutGapsOrRepeats(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 100,000 events")
	}
	url := loadedDashboard(t)

	start := time.Now()
	var page Events
	if code, body := call(t, "GET", url+"/api/events?stream=LOAD", "", nil, &page); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	took := time.Since(start)
	t.Logf("first page in %s", took)
	if took > 5*time.Second {
		t.Fatalf("first page took %s", took)
	}
	if len(page.Events) != defaultLimit {
		t.Fatalf("%d events, want %d", len(page.Events), defaultLimit)
	}
	for i, e := range page.Events {
		if want := uint64(loadEvents - i); e.Seq != want {
			t.Fatalf("event %d at %d, want %d (newest first)", i, e.Seq, want)
		}
		if e.Entity != fmt.Sprintf("item-%d", e.Seq) || e.ID == "" || e.Type == "" || !strings.Contains(string(e.Event), `"specversion":"1.0"`) {
			t.Fatalf("event %+v", e)
		}
	}
	if page.Next != page.Events[len(page.Events)-1].Seq {
		t.Fatalf("next %d, want the last event's position", page.Next)
	}

	// Paging with next walks back with no gap and no repeat.
	want := page.Events[len(page.Events)-1].Seq - 1
	for range 20 {
		var p Events
		call(t, "GET", fmt.Sprintf("%s/api/events?stream=LOAD&limit=200&before=%d", url, page.Next), "", nil, &p)
		if len(p.Events) != maxLimit {
			t.Fatalf("%d events, want %d", len(p.Events), maxLimit)
		}
		for _, e := range p.Events {
			if e.Seq != want {
				t.Fatalf("event at %d, want %d", e.Seq, want)
			}
			want--
		}
		page = p
	}
	// The oldest page ends the walk.
	var p Events
	call(t, "GET", url+"/api/events?stream=LOAD&limit=200&before=151", "", nil, &p)
	if len(p.Events) != 150 || p.Events[0].Seq != 150 || p.Events[149].Seq != 1 || p.Next != 0 {
		t.Fatalf("oldest page: %d events, next %d", len(p.Events), p.Next)
	}

	// A rare type is found across the whole stream, each request scanning
	// at most maxScan positions, and next goes on where the scan stopped.
	var seen []uint64
	before := uint64(0)
	for requests := 0; ; requests++ {
		if requests > loadEvents/maxScan+1 {
			t.Fatalf("%d requests and not done", requests)
		}
		q := url + "/api/events?stream=LOAD&type=" + rareType
		if before > 0 {
			q += fmt.Sprintf("&before=%d", before)
		}
		var p Events
		start := time.Now()
		if code, body := call(t, "GET", q, "", nil, &p); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("a filtered page took %s", d)
		}
		for _, e := range p.Events {
			if e.Type != rareType {
				t.Fatalf("type %s", e.Type)
			}
			seen = append(seen, e.Seq)
		}
		if p.Next == 0 {
			break
		}
		if before > 0 && before-p.Next > maxScan {
			t.Fatalf("scanned from %d to %d: more than %d positions", before, p.Next, maxScan)
		}
		before = p.Next
	}
	if len(seen) != loadEvents/rareEvery {
		t.Fatalf("found %v", seen)
	}
	for i, s := range seen {
		if want := uint64(loadEvents - i*rareEvery); s != want {
			t.Fatalf("found %v, want every %d-th position, newest first", seen, rareEvery)
		}
	}

	// An entity further back than one scan: the first page is empty, and
	// next leads to it.
	call(t, "GET", url+"/api/events?stream=LOAD&entity=item-77777", "", nil, &p)
	if len(p.Events) != 0 || p.Next != loadEvents-maxScan+1 {
		t.Fatalf("first entity page: %d events, next %d", len(p.Events), p.Next)
	}
	call(t, "GET", fmt.Sprintf("%s/api/events?stream=LOAD&entity=item-77777&before=%d", url, p.Next), "", nil, &p)
	if len(p.Events) != 1 || p.Events[0].Seq != 77777 {
		t.Fatalf("entity page: %+v", p)
	}

	// Since stops at the first older event.
	call(t, "GET", url+"/api/events?stream=LOAD&since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "", nil, &p)
	if len(p.Events) != 0 || p.Next != 0 {
		t.Fatalf("since an hour from now: %d events, next %d", len(p.Events), p.Next)
	}

	// One event by its position.
	var e Event
	if code, body := call(t, "GET", url+"/api/events/LOAD/12345", "", nil, &e); code != 200 || e.Seq != 12345 || e.Entity != "item-12345" {
		t.Fatalf("%d %s", code, body)
	}
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/events/LOAD/100001", "", nil)
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/events/NOPE/1", "", nil)
	wantProblem(t, http.StatusUnprocessableEntity, "GET", url+"/api/events/LOAD/x", "", nil)
}

func TestEventsRefusesBadParameters(t *testing.T) {
	sys := newSystem(t)
	url := serve(t, sys.options())
	for _, tc := range []struct {
		query string
		code  int
		says  string
	}{
		{"", 422, "stream is required"},
		{"stream=NOPE", 422, "unknown stream"},
		{"stream=SHOP&limit=201", 422, "limit"},
		{"stream=SHOP&limit=0", 422, "limit"},
		{"stream=SHOP&limit=ten", 422, "limit"},
		{"stream=SHOP&before=0", 422, "before"},
		{"stream=SHOP&before=-3", 422, "before"},
		{"stream=SHOP&since=yesterday", 422, "RFC 3339"},
		{"stream=SHOP&type=a%20b", 422, "type"},
		{"stream=SHOP&type=PostCreated", 422, "does not carry"},
		{"stream=SHOP&subject=shop..order", 422, "empty token"},
		{"stream=SHOP&subject=shop.>.x", 422, "last token"},
		{"stream=SHOP&subject=shop.user&type=shop.order.created.v1", 422, "does not match"},
		{"stream=SHOP&limt=5", 400, "unknown parameter"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			detail := wantProblem(t, tc.code, "GET", url+"/api/events?"+tc.query, "", nil)
			if !strings.Contains(detail, tc.says) {
				t.Fatalf("detail %q does not say %q", detail, tc.says)
			}
		})
	}
	// Good parameters on an empty stream: no events.
	var p Events
	if code, body := call(t, "GET", url+"/api/events?stream=SHOP&type=shop.order.created.v1&limit=200&entity=1", "", nil, &p); code != 200 || len(p.Events) != 0 || p.Next != 0 {
		t.Fatalf("%d %s", code, body)
	}
}
