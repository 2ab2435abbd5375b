package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readBound is how many messages the dashboard's connection may receive
// for one read of the bus besides the stream positions it reads: the
// JetStream API's answers (stream and consumer info, fetch status
// messages).
const readBound = 32

// scanBound is the most one filtered request may receive: maxScan
// positions, read a window at a time.
const scanBound = maxScan + maxScan/window*readBound

// TestEventsPageAMillionEventStreamReadingOnlyWhatEachPageNeeds pages
// through the load stream (a million events) newest first, without gaps or
// repeats, filtered by type, entity and time, and counts what the
// dashboard's own bus connection received for each request: a page reads
// one window of positions, a filtered page at most maxScan, never the
// stream.
func TestEventsPageAMillionEventStreamReadingOnlyWhatEachPageNeeds(t *testing.T) {
	if testing.Short() {
		t.Skipf("publishes %d events", LoadEvents)
	}
	o, received := LoadedOptions(t)
	url := serve(t, o)
	total := uint64(LoadEvents)
	// get GETs path into out and returns how many messages the dashboard
	// received from the bus meanwhile.
	get := func(path string, out any) uint64 {
		t.Helper()
		before := received()
		if code, body := call(t, "GET", url+path, "", nil, out); code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		return received() - before
	}

	var page Events
	if n := get("/api/events?stream=LOAD", &page); n > window+readBound {
		t.Fatalf("the first page of %d events received %d messages from the bus, want at most %d", defaultLimit, n, window+readBound)
	}
	if len(page.Events) != defaultLimit {
		t.Fatalf("%d events, want %d", len(page.Events), defaultLimit)
	}
	for i, e := range page.Events {
		if want := total - uint64(i); e.Seq != want {
			t.Fatalf("event %d at %d, want %d (newest first)", i, e.Seq, want)
		}
		if e.Entity != fmt.Sprintf("item-%d", e.Seq) || e.ID == "" || e.Type == "" || !strings.Contains(string(e.Event), `"specversion":"1.0"`) {
			t.Fatalf("event %+v", e)
		}
	}
	if page.Next != page.Events[len(page.Events)-1].Seq {
		t.Fatalf("next %d, want the last event's position", page.Next)
	}

	// Paging with next walks back with no gap and no repeat, each page
	// reading about its own size.
	want := page.Events[len(page.Events)-1].Seq - 1
	for range 20 {
		var p Events
		if n := get(fmt.Sprintf("/api/events?stream=LOAD&limit=200&before=%d", page.Next), &p); n > window+readBound {
			t.Fatalf("a page of %d received %d messages", maxLimit, n)
		}
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
	get("/api/events?stream=LOAD&limit=200&before=151", &p)
	if len(p.Events) != 150 || p.Events[0].Seq != 150 || p.Events[149].Seq != 1 || p.Next != 0 {
		t.Fatalf("oldest page: %d events, next %d", len(p.Events), p.Next)
	}

	// A rare type is found across the whole stream, each request reading
	// at most maxScan positions, and next goes on where its scan stopped.
	var seen []uint64
	before := uint64(0)
	for requests := 0; ; requests++ {
		if requests > LoadEvents/maxScan+1 {
			t.Fatalf("%d requests and not done", requests)
		}
		q := "/api/events?stream=LOAD&type=" + rareType
		if before > 0 {
			q += fmt.Sprintf("&before=%d", before)
		}
		var p Events
		n := get(q, &p)
		for _, e := range p.Events {
			if e.Type != rareType {
				t.Fatalf("type %s", e.Type)
			}
			seen = append(seen, e.Seq)
		}
		if n > scanBound {
			t.Fatalf("a page of %d rare events received %d messages, want at most %d", len(p.Events), n, scanBound)
		}
		if p.Next == 0 {
			break
		}
		if before > 0 && before-p.Next > maxScan {
			t.Fatalf("scanned from %d to %d: more than %d positions", before, p.Next, maxScan)
		}
		before = p.Next
	}
	if len(seen) != LoadEvents/rareEvery {
		t.Fatalf("found %d rare events, want %d", len(seen), LoadEvents/rareEvery)
	}
	for i, s := range seen {
		if want := total - uint64(i*rareEvery); s != want {
			t.Fatalf("found %v, want every %d-th position, newest first", seen, rareEvery)
		}
	}

	// An entity further back than one scan: the first page is empty after
	// reading maxScan positions, and next leads to it.
	target := total - maxScan - maxScan/2
	entity := fmt.Sprintf("item-%d", target)
	// The entity is in the CloudEvent, not in the NATS subject, so the
	// dashboard filters it itself, a window of positions per read.
	if n := get("/api/events?stream=LOAD&entity="+entity, &p); n > scanBound {
		t.Fatalf("an entity page received %d messages, want at most %d", n, scanBound)
	}
	if len(p.Events) != 0 || p.Next != total-maxScan+1 {
		t.Fatalf("first entity page: %d events, next %d", len(p.Events), p.Next)
	}
	get(fmt.Sprintf("/api/events?stream=LOAD&entity=%s&before=%d", entity, p.Next), &p)
	if len(p.Events) != 1 || p.Events[0].Seq != target {
		t.Fatalf("entity page: %+v", p)
	}

	// Since stops at the first older event.
	if n := get("/api/events?stream=LOAD&since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), &p); n > window+readBound {
		t.Fatalf("a page since an hour from now received %d messages", n)
	}
	if len(p.Events) != 0 || p.Next != 0 {
		t.Fatalf("since an hour from now: %d events, next %d", len(p.Events), p.Next)
	}

	// One event by its position.
	var e Event
	if n := get(fmt.Sprintf("/api/events/LOAD/%d", total/2), &e); e.Seq != total/2 || e.Entity != fmt.Sprintf("item-%d", total/2) || n > readBound {
		t.Fatalf("event %d: %+v, %d messages received", total/2, e, n)
	}
	wantProblem(t, http.StatusNotFound, "GET", fmt.Sprintf("%s/api/events/LOAD/%d", url, total+1), "", nil)
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/events/NOPE/1", "", nil)
	wantProblem(t, http.StatusUnprocessableEntity, "GET", url+"/api/events/LOAD/x", "", nil)

	// The topology of the million-event stream is one snapshot, not a read.
	var top Topology
	if n := get("/api/topology", &top); top.Apps[0].LastSeq != total || n > readBound {
		t.Fatalf("topology: last %d, want %d; %d messages received", top.Apps[0].LastSeq, total, n)
	}
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
