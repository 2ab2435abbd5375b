package shop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// withTracing traces the service with tr.
func withTracing(tr *observe.Tracing) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Tracing = tr }
}

// withDelivery sets the consumers' attempts and backoff.
func withDelivery(maxDeliver int, backoff time.Duration) option {
	return func(c *shop.Config, _ *outbox.Publisher) {
		c.MaxDeliver, c.Backoff = maxDeliver, []time.Duration{backoff}
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver, built on the official
// protobuf definitions: what Jaeger or a collector would receive.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans map[string][]receivedSpan // by trace id
}

type receivedSpan struct {
	service, name, spanID, parentID string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{spans: map[string][]receivedSpan{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(req.Body)
		var export collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &export); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			svc := ""
			for _, kv := range rs.Resource.GetAttributes() {
				if kv.Key == "service.name" {
					svc = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					id := hex.EncodeToString(s.TraceId)
					r.spans[id] = append(r.spans[id], receivedSpan{service: svc, name: s.Name, spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId)})
				}
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) trace(id string) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans[id])
}

// write POSTs body to url with headers and returns the answer's headers
// and body, failing unless it is 201.
func write(t *testing.T, url string, body any, header ...string) (http.Header, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	code, h, b := testenv.Send(t, http.MethodPost, url, "application/json", bytes.NewReader(raw), header...)
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", url, code, b)
	}
	return h, b
}

// find returns the span of spans named name in service, failing if none.
func find(t *testing.T, spans []observe.Span, service, name string) observe.Span {
	t.Helper()
	for _, s := range spans {
		if s.Service == service && s.Name == name {
			return s
		}
	}
	var have []string
	for _, s := range spans {
		have = append(have, s.Service+": "+s.Name)
	}
	t.Fatalf("no span %q of %s among %v", name, service, have)
	return observe.Span{}
}

func TestOneTraceFromAWriteThroughOutboxRelayAndEveryConsumer(t *testing.T) {
	otlp := newOTLPReceiver(t)
	tr, err := observe.New(context.Background(), observe.Options{OTLPEndpoint: otlp.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	s := map[string]*svc{}
	for _, n := range shop.Services {
		s[n] = e.start(n, withTracing(tr))
	}
	user := createUser(t, s["users"], "Ann")

	// A product, written with the caller's trace: products' outbox and
	// relay, then both consumers of product.created, orders' and query's.
	const productTrace, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	h, raw := write(t, s["products"].URL()+"/products", map[string]string{"title": "hat", "image": "hat.png"},
		"traceparent", "00-"+productTrace+"-"+caller+"-01")
	var p idOnly
	json.Unmarshal(raw, &p)
	productEvent := h.Get(service.HeaderEventID)
	if productEvent == "" || h.Get(service.HeaderToken) != event.ProductCreatedV2+":"+productEvent {
		t.Fatalf("write answered %s=%q %s=%q, want the event's id and its token", service.HeaderEventID, productEvent, service.HeaderToken, h.Get(service.HeaderToken))
	}

	// An order, the same way: orders' outbox and relay, query's consumer.
	const orderTrace = "5cf92f3577b34da6a3ce929d0e0e4737"
	var h2 http.Header
	testenv.Eventually(t, 15*time.Second, func() error { // orders hears of the product first
		raw, _ := json.Marshal(map[string]int64{"userId": user, "productId": p.ID})
		code, hh, b := testenv.Send(t, http.MethodPost, s["orders"].URL()+"/orders", "application/json", bytes.NewReader(raw),
			"traceparent", "00-"+orderTrace+"-"+caller+"-01")
		if code != http.StatusCreated {
			return fmt.Errorf("%d %s", code, b)
		}
		h2 = hh
		return nil
	})
	orderEvent := h2.Get(service.HeaderEventID)

	wantChain := func(trace, event, owner, path, subject string, consumers map[string]string) []observe.Span {
		t.Helper()
		var spans []observe.Span
		testenv.Eventually(t, 15*time.Second, func() error {
			spans = tr.Ring().Trace(trace)
			n := 0
			for _, sp := range spans {
				if sp.Kind == "consumer" && sp.Attr(string(observe.AttrMessageID)) == event {
					n++
				}
			}
			if n < len(consumers) {
				return fmt.Errorf("%d consumer spans of %s in the ring, want %d", n, event, len(consumers))
			}
			return nil
		})
		send := find(t, spans, owner, "send "+subject)
		if send.Kind != "producer" || send.Attr(string(observe.AttrMessageID)) != event {
			t.Errorf("%s: kind %s event %s, want a producer of %s", send.Name, send.Kind, send.Attr(string(observe.AttrMessageID)), event)
		}
		// The request that wrote the event (a write refused earlier, with
		// the same traceparent, is a span of its own).
		i := slices.IndexFunc(spans, func(sp observe.Span) bool { return sp.SpanID == send.ParentID })
		if i < 0 {
			t.Fatalf("the publish's parent %s is not in the trace", send.ParentID)
		}
		server := spans[i]
		if server.Service != owner || server.Name != "POST "+path || server.ParentID != caller || server.Kind != "server" {
			t.Errorf("the publish's parent: %s %s parent %s kind %s, want %s's POST %s under the caller's span %s", server.Service, server.Name, server.ParentID, server.Kind, owner, path, caller)
		}
		for svcName, consumer := range consumers {
			proc := find(t, spans, svcName, "process "+subject)
			if proc.ParentID != send.SpanID || !slices.Contains(proc.Links, trace+"-"+send.SpanID) {
				t.Errorf("%s of %s: parent %s links %v, want the publish %s as parent and link", proc.Name, svcName, proc.ParentID, proc.Links, send.SpanID)
			}
			if proc.Attr(string(observe.AttrConsumer)) != consumer || proc.Attr(string(observe.AttrOutcome)) != observe.OutcomeApplied {
				t.Errorf("%s of %s: consumer %q outcome %q, want %s applied", proc.Name, svcName, proc.Attr(string(observe.AttrConsumer)), proc.Attr(string(observe.AttrOutcome)), consumer)
			}
		}
		return spans
	}
	productSpans := wantChain(productTrace, productEvent, "products", "/products", "shop.product.created", map[string]string{"orders": "shop-orders", "query": "shop-query"})
	orderSpans := wantChain(orderTrace, orderEvent, "orders", "/orders", "shop.order.created", map[string]string{"query": "shop-query"})

	// The same spans reach a real OTLP receiver; Shutdown exports what the
	// batchers still hold.
	for _, sv := range s {
		sv.MustStop()
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for trace, spans := range map[string][]observe.Span{productTrace: productSpans, orderTrace: orderSpans} {
		got := otlp.trace(trace)
		for _, want := range spans {
			if !slices.ContainsFunc(got, func(r receivedSpan) bool {
				return r.spanID == want.SpanID && r.service == want.Service && r.name == want.Name && r.parentID == want.ParentID
			}) {
				t.Errorf("the OTLP receiver did not get %s's span %s (%s) of trace %s; it got %+v", want.Service, want.Name, want.SpanID, trace, got)
			}
		}
	}
}

// TestTraceShowsRetryDuplicateAndDeadLetter follows three events through
// query's consumer, which fails on purpose: one until the test lets it
// pass (retrying, then applied), one every time (dead-lettered), and one
// delivered twice (a duplicate skipped).
func TestTraceShowsRetryDuplicateAndDeadLetter(t *testing.T) {
	tr, err := observe.New(context.Background(), observe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	e := newEnv(t)
	var fixed, cured atomic.Bool
	failing := func(h bus.Handler) bus.Handler {
		return func(ctx context.Context, m bus.Message) error {
			if bytes.Contains(m.Data, []byte("poison")) && !cured.Load() || bytes.Contains(m.Data, []byte("flaky")) && !fixed.Load() {
				return fmt.Errorf("injected failure")
			}
			return h(ctx, m)
		}
	}
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s := map[string]*svc{}
	for _, n := range shop.Services {
		opts := []option{withTracing(tr), withDelivery(5, time.Second), withLogger(log)}
		if n == "query" {
			opts = append(opts, withWrap(failing))
		}
		s[n] = e.start(n, opts...)
	}
	urls := map[string]string{}
	for n, sv := range s {
		urls[n] = sv.URL()
	}
	src := journey.Sources{
		Bus: e.bus, Catalogue: catalogue.Catalogue{shop.App()},
		Service: func(ctx context.Context, name string, q url.Values) (service.Journey, error) {
			var j service.Journey
			u, ok := urls[name]
			if !ok {
				return j, fmt.Errorf("%s is not running", name)
			}
			resp, err := http.Get(u + "/journey?" + q.Encode())
			if err != nil {
				return j, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return j, fmt.Errorf("%s: %s", name, resp.Status)
			}
			return j, json.NewDecoder(resp.Body).Decode(&j)
		},
	}
	// waitStep polls the journey of id until query's consumer reaches
	// outcome, and returns it with what herald trace prints.
	waitStep := func(id, outcome string) (journey.Journey, journey.Consumer, string) {
		t.Helper()
		var j journey.Journey
		var step journey.Consumer
		testenv.Eventually(t, 20*time.Second, func() error {
			var err error
			if j, err = journey.Of(context.Background(), src, id); err != nil {
				return err
			}
			for _, c := range j.Consumers {
				if c.Consumer == "shop-query" {
					step = c
				}
			}
			if step.Outcome != outcome {
				return fmt.Errorf("shop-query: %s (%+v), want %s", step.Outcome, step, outcome)
			}
			// On a loaded machine query may miss one /journey request;
			// the journey then knows only what the bus says. Ask again
			// until query itself has answered.
			if outcome == journey.Applied && step.At.IsZero() {
				return fmt.Errorf("shop-query: applied per the bus, not yet per query (%+v)", step)
			}
			return nil
		})
		var out bytes.Buffer
		if err := journey.Write(&out, j); err != nil {
			t.Fatal(err)
		}
		return j, step, out.String()
	}
	eventOf := func(title string) string {
		h, _ := write(t, s["products"].URL()+"/products", map[string]string{"title": title, "image": title + ".png"})
		return h.Get(service.HeaderEventID)
	}

	flaky := eventOf("flaky")
	_, step, text := waitStep(flaky, journey.Retrying)
	if step.Attempt < 1 || !strings.Contains(step.Error, "injected failure") || !strings.Contains(text, "retrying") || !strings.Contains(text, "injected failure") {
		t.Fatalf("a failing event's journey: %+v\n%s", step, text)
	}
	fixed.Store(true)
	j, step, text := waitStep(flaky, journey.Applied)
	// The failure's log line carries the trace of the request that wrote
	// the event.
	var logged []string
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "will retry") && strings.Contains(line, flaky) {
			logged = append(logged, line)
		}
	}
	if len(logged) == 0 || j.TraceID == "" || !strings.Contains(logged[0], `"trace_id":"`+j.TraceID+`"`) || !strings.Contains(logged[0], `"span_id":"`) {
		t.Errorf("the retry's log lines %q lack trace_id %s and a span_id", logged, j.TraceID)
	}
	if step.At.IsZero() || step.At.Before(j.Committed.At) || step.Error != "" {
		t.Errorf("applied after a retry: %+v", step)
	}
	outcomes := map[string]bool{}
	for _, sp := range j.Spans {
		if sp.Attr(string(observe.AttrConsumer)) == "shop-query" {
			outcomes[sp.Attr(string(observe.AttrOutcome))] = true
		}
	}
	if !outcomes[observe.OutcomeRetried] || !outcomes[observe.OutcomeApplied] {
		t.Errorf("query's spans show outcomes %v, want retried and applied:\n%s", outcomes, text)
	}
	for _, c := range j.Consumers {
		if c.Consumer == "shop-orders" && c.Outcome != journey.Applied {
			t.Errorf("orders, which did not fail, is %s", c.Outcome)
		}
	}
	if j.Published == nil || j.Published.Stream != shop.Stream || j.Published.Sequence == 0 || j.Committed.Service != "products" {
		t.Errorf("commit and publish: %+v %+v", j.Committed, j.Published)
	}

	// The same event delivered again (as a relay republishing it after
	// the bus's duplicate window would): skipped, and shown so.
	stored, ok, err := e.bus.Find(context.Background(), shop.Stream, flaky, time.Time{}, 1000)
	if err != nil || !ok {
		t.Fatalf("find %s: %v %v", flaky, ok, err)
	}
	if err := e.bus.Publish(context.Background(), stored.Subject, flaky+"-again", stored.Data); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		_, step, text = waitStep(flaky, journey.Applied)
		if step.Duplicates < 1 || !strings.Contains(text, "duplicate") {
			return fmt.Errorf("no duplicate yet: %+v", step)
		}
		return nil
	})

	poison := eventOf("poison")
	_, step, text = waitStep(poison, journey.DeadLettered)
	if step.Attempt != 5 || !strings.Contains(step.Error, "injected failure") || step.DLQSeq == 0 ||
		!strings.Contains(text, "dead-lettered") || !strings.Contains(text, fmt.Sprintf("herald dlq show %d", step.DLQSeq)) {
		t.Errorf("a poison event's journey: %+v\n%s", step, text)
	}

	// Cured and redriven: applied, and the journey says it was redriven
	// after the attempts that dead-lettered it.
	cured.Store(true)
	if err := e.bus.Redrive(context.Background(), step.DLQSeq); err != nil {
		t.Fatal(err)
	}
	_, step, text = waitStep(poison, journey.Applied)
	if !step.Redriven || step.DeadAttempts != 5 || !strings.Contains(step.DeadError, "injected failure") ||
		!strings.Contains(text, "dead-lettered after 5 attempts (injected failure); redriven at ") || len(step.Redrives) != 1 {
		t.Errorf("a redriven event's journey: %+v\n%s", step, text)
	}
	if _, flakyStep, _ := waitStep(flaky, journey.Applied); flakyStep.Redriven {
		t.Errorf("an event that was retried, never dead-lettered, shows as redriven: %+v", flakyStep)
	}
}

func TestHeraldAfterAnswersFreshOrStaleWithinTheBound(t *testing.T) {
	e := newEnv(t)
	st := newStaller(t)
	s := e.startShop("query", st)
	user := createUser(t, s["users"], "Ann")
	hat := createProduct(t, s["products"], "hat", "hat.png")
	order := func(product int64) string {
		var token string
		testenv.Eventually(t, 15*time.Second, func() error {
			raw, _ := json.Marshal(map[string]int64{"userId": user, "productId": product})
			code, h, b := testenv.Send(t, http.MethodPost, s["orders"].URL()+"/orders", "application/json", bytes.NewReader(raw))
			if code != http.StatusCreated {
				return fmt.Errorf("%d %s", code, b)
			}
			token = h.Get(service.HeaderToken)
			return nil
		})
		return token
	}
	read := func(header ...string) (int, string, string, time.Duration) {
		start := time.Now()
		code, h, b := testenv.Send(t, http.MethodGet, fmt.Sprintf("%s/users/%d/products", s["query"].URL(), user), "", nil, header...)
		return code, h.Get(service.HeaderConsistency), string(b), time.Since(start)
	}

	// Just written, read at once with its token: the answer has it.
	token := order(hat)
	code, consistency, body, _ := read(service.HeaderAfter, token)
	if code != http.StatusOK || consistency != service.Fresh || !strings.Contains(body, `"hat"`) {
		t.Fatalf("read after the write: %d %s %s, want 200 fresh with the hat", code, consistency, body)
	}
	if _, c, _, _ := read(); c != "" {
		t.Errorf("a read without a token answered %s=%s; it should not wait nor say", service.HeaderConsistency, c)
	}
	// ?after= works as the header does.
	rawURL := fmt.Sprintf("%s/users/%d/products?after=%s", s["query"].URL(), user, url.QueryEscape(token))
	if code, h, _ := testenv.Send(t, http.MethodGet, rawURL, "", nil); code != http.StatusOK || h.Get(service.HeaderConsistency) != service.Fresh {
		t.Errorf("?after=: %d %s", code, h.Get(service.HeaderConsistency))
	}

	// With query's consumer stalled, a new order's token cannot be fresh:
	// the read answers stale once its wait runs out, and not much later.
	st.stall()
	createProduct(t, s["products"], "scarf", "scarf.png")
	stalledToken := order(hat) // orders knows the hat; query is stalled on the scarf
	code, consistency, body, took := read(service.HeaderAfter, stalledToken, service.HeaderWait, "300ms")
	if code != http.StatusOK || consistency != service.Stale {
		t.Fatalf("read with a stalled consumer: %d %s %s, want 200 stale", code, consistency, body)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("stale answer took %s, want the 300ms asked for (and not much more)", took)
	}

	// Released, the consumer applies it and the same read is fresh.
	st.free()
	if _, c, _, _ := read(service.HeaderAfter, stalledToken, service.HeaderWait, "10s"); c != service.Fresh {
		t.Errorf("after the consumer caught up: %s, want fresh", c)
	}

	// A token of an event query never applies has nothing to wait for; a
	// malformed one is refused with a problem a person can act on.
	if _, c, _, took := read(service.HeaderAfter, "shop.unknown.v1:abc"); c != service.Fresh || took > time.Second {
		t.Errorf("token of an event query does not consume: %s after %s, want fresh at once", c, took)
	}
	code, _, body, _ = read(service.HeaderAfter, "no-colon")
	if code != http.StatusBadRequest || !strings.Contains(body, service.HeaderToken) {
		t.Errorf("malformed token: %d %s, want 400 naming %s", code, body, service.HeaderToken)
	}
	code, _, body, _ = read(service.HeaderAfter, token, service.HeaderWait, "soon")
	if code != http.StatusBadRequest || !strings.Contains(body, "duration") {
		t.Errorf("malformed wait: %d %s, want 400", code, body)
	}
}
