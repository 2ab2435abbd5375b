package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/event"
)

// postCreated returns the data of a PostCreated event for post n, the
// tutorial's shape.
func postCreated(rnd *rand.Rand) event.PostData {
	return event.PostData{ID: strconv.FormatUint(rnd.Uint64()&0xffffffffff, 16), Title: "Notes from the bench, part " + strconv.Itoa(rnd.IntN(100000))}
}

// runIngress posts tutorial-shaped events to the blog gateway's POST
// /events, which answers once JetStream has stored each (fsynced), against
// raw JetStream async publishing of the events the gateway stores.
func runIngress(ctx context.Context, e *env) error {
	// The tutorial's posts service runs outside Herald, so the gateway takes
	// its events from outside clients and publishes them (herald up gateway
	// declares it so, to its bus and its gateway).
	var external []string
	if e.helpHas(ctx, "bus", "--external") {
		external = []string{"--external", "posts"}
	}
	bus, _, err := e.startBus(ctx, "bus", false, external...)
	if err != nil {
		return err
	}
	dir, err := e.dir("gateway")
	if err != nil {
		return err
	}
	gw, err := e.serve(ctx, "gateway", bus.URL("bus"), dir, external...)
	if err != nil {
		return err
	}
	rawBus, raw, err := e.startBus(ctx, "raw-bus", false)
	if err != nil {
		return err
	}
	if err := raw.ensureStream(ctx, "RAW", "raw.>"); err != nil {
		return err
	}
	gwURL := gw.URL("gateway")
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	post := &RawGets{URL: gwURL, Header: h, Post: func(rnd *rand.Rand) (string, []byte, func(int, []byte) Outcome) {
		body, _ := json.Marshal(struct {
			Type string         `json:"type"`
			Data event.PostData `json:"data"`
		}{event.PostCreated, postCreated(rnd)})
		return "/events", body, func(status int, b []byte) Outcome {
			switch {
			case status != http.StatusOK:
				return Failed
			case !strings.Contains(string(b), `"OK"`):
				return Wrong
			}
			return OK
		}
	}}
	herald := e.httpSide("ingress", "herald gateway POST /events", gwURL, "gateway", Load{Raw: post})
	run := herald.run
	herald.run = func(ctx context.Context, round int) (Figures, error) {
		f, err := run(ctx, round)
		if f != nil {
			f["per_s"] = f["req_per_s"]
		}
		return f, err
	}
	rnd := rand.New(rand.NewPCG(11, 11))
	// What the gateway stores for a tutorial event: a CloudEvent with a
	// fresh id, its source, and a header naming the shape.
	storedEvent := func() (*nats.Msg, string, bool) {
		data, _ := json.Marshal(postCreated(rnd))
		env := event.Envelope{SpecVersion: event.SpecVersion, ID: event.NewID(), Source: "/blog/gateway", Type: event.PostCreated,
			Time: time.Now().UTC().Truncate(time.Microsecond), DataContentType: "application/json", Data: data}
		b, _ := env.Encode()
		m := &nats.Msg{Subject: "raw.event.PostCreated", Data: b, Header: nats.Header{}}
		m.Header.Set("Herald-Shape", "tutorial")
		return m, env.ID, true
	}
	anchor := e.rawPublishSide(raw, rawBus, "ingress", storedEvent)
	c := &Comparison{Name: "events/s, fsync on", Show: []string{"per_s", "p50_ms", "p99_ms"},
		Targets: []Target{{Text: "gateway ingress ≥ 0.9x the raw JetStream publish rate, fsync on", Key: "per_s", Ratio: true, Op: ">=", Value: 0.9}}}
	return e.alternate(ctx, c, herald, anchor)
}
