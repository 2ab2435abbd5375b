package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
)

// pusher runs one durable consumer per subscription, each delivering the
// subscription's events to its URL in stream order. It is safe for
// concurrent use.
type pusher struct {
	cfg     Config
	bus     *jetstream.Bus
	subs    *subStore
	allow   *allowlist
	log     *slog.Logger
	metrics *metrics
	client  *http.Client
	module  *service.Service // traces each delivery

	mu      sync.Mutex // guards running
	running map[string]worker
}

// worker is a running subscription's consumer and its subscription.
type worker struct {
	consumer bus.Consumer
	sub      bus.Subscription
}

// newSub is what a new subscription asks for.
type newSub struct {
	URL       string
	Types     []string // empty means every type
	Format    string   // FormatTutorial (default) or FormatCloudEvents
	Secret    string   // "" means Config.Secret
	FromStart bool     // replay the whole history first; else only events from now on
}

// start syncs the flag subscriptions with Config.Push and starts a worker
// for every subscription.
func (p *pusher) start(ctx context.Context) error {
	if err := p.syncFlags(ctx); err != nil {
		return err
	}
	all, err := p.subs.list(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if err := p.run(ctx, s); err != nil {
			return errors.Join(err, p.stop(ctx))
		}
	}
	return nil
}

// stop stops every worker, letting a delivery in flight finish.
func (p *pusher) stop(ctx context.Context) error {
	p.mu.Lock()
	running := p.running
	p.running = map[string]worker{}
	p.mu.Unlock()
	var errs []error
	for _, w := range running {
		errs = append(errs, w.sub.Stop(ctx))
	}
	return errors.Join(errs...)
}

// consumer returns the durable consumer of subscription s.
func (p *pusher) consumer(s subscription) bus.Consumer {
	subjects := []string{event.BlogEventSubjects}
	if len(s.Types) > 0 {
		subjects = nil
		for _, t := range s.Types {
			subjects = append(subjects, event.BlogSubject(t))
		}
	}
	return bus.Consumer{
		Name: s.Consumer(), Stream: event.BlogStream, Subjects: subjects,
		MaxDeliver: p.cfg.MaxDeliver, Backoff: p.cfg.Backoff, AckWait: p.cfg.Timeout + 10*time.Second,
		StartSeq: s.StartSeq, Ordered: true,
	}
}

// run starts the worker of subscription s.
func (p *pusher) run(ctx context.Context, s subscription) error {
	key, err := parseSecret(s.Secret)
	if err != nil {
		return fmt.Errorf("subscription %s: %w", s.ID, err)
	}
	c := p.consumer(s)
	sub, err := p.bus.Subscribe(ctx, c, p.module.TraceHandler(c, p.handler(s, key), observe.OutcomeDelivered))
	if err != nil {
		return fmt.Errorf("start subscription %s: %w", s.ID, err)
	}
	p.mu.Lock()
	p.running[s.ID] = worker{consumer: c, sub: sub}
	p.mu.Unlock()
	p.log.Info("pushing", "subscription", s.ID, "url", redact(s.URL), "format", s.Format, "types", s.Types)
	return nil
}

// handler delivers one event to s: an error (non-2xx, timeout, connection
// failure) makes the bus retry it after a backoff and dead-letter it after
// Config.MaxDeliver attempts.
func (p *pusher) handler(s subscription, key []byte) bus.Handler {
	ok, failed := p.metrics.pushed.WithLabelValues(s.ID, "ok"), p.metrics.pushed.WithLabelValues(s.ID, "error")
	return func(ctx context.Context, m bus.Message) error {
		var ev struct {
			ID   string          `json:"id"`
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.ID == "" {
			return fmt.Errorf("message %d on %s is not a CloudEvent with an id: %v", m.Sequence, m.Subject, err)
		}
		body, contentType := m.Data, "application/cloudevents+json"
		if s.Format == FormatTutorial {
			body, _ = json.Marshal(struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}{ev.Type, ev.Data})
			contentType = "application/json"
		}
		ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		if err := deliver(ctx, p.client, s.URL, contentType, ev.ID, key, body, observe.TraceParent(ctx)); err != nil {
			failed.Inc()
			return err
		}
		ok.Inc()
		return nil
	}
}

// lag returns how many events subscription id has not yet acknowledged, or
// -1 if its worker is not running or the bus cannot say.
func (p *pusher) lag(ctx context.Context, id string) int64 {
	p.mu.Lock()
	w, ok := p.running[id]
	p.mu.Unlock()
	if !ok {
		return -1
	}
	n, err := w.sub.Lag(ctx)
	if err != nil {
		return -1
	}
	return int64(n)
}

// consumers returns the durable consumers of the running subscriptions,
// sorted by name, for the gateway's GET /status.
func (p *pusher) consumers() []bus.Consumer {
	p.mu.Lock()
	out := make([]bus.Consumer, 0, len(p.running))
	for _, w := range p.running {
		out = append(out, w.consumer)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b bus.Consumer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// checkURL parses a subscriber URL: absolute http or https, with a host.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q must be an absolute http:// or https:// URL with a host", raw)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%q has a #fragment, which is never sent; leave it out", raw)
	}
	return u, nil
}

// create stores a subscription made through the API and starts its worker.
// Errors are *herald.Error values for the caller to act on: EInvalid naming
// the field, EConflict for a URL already subscribed, EUnavailable when the
// bus is down.
func (p *pusher) create(ctx context.Context, req newSub) (subscription, error) {
	u, err := checkURL(req.URL)
	if err != nil {
		return subscription{}, herald.FieldError("body.url", "%v", err)
	}
	if err := p.allow.checkTarget(ctx, u); err != nil {
		return subscription{}, herald.FieldError("body.url", "%v", err)
	}
	types := []string{}
	for i, t := range req.Types {
		if err := event.CheckBlogType(t); err != nil {
			return subscription{}, herald.FieldError(fmt.Sprintf("body.types[%d]", i), "%v", err)
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	secret := req.Secret
	if secret == "" {
		secret = p.cfg.Secret
	} else if _, err := parseSecret(secret); err != nil {
		return subscription{}, herald.FieldError("body.secret", "%v", err)
	}
	format := req.Format
	if format == "" {
		format = FormatTutorial
	}
	if format != FormatTutorial && format != FormatCloudEvents {
		return subscription{}, herald.FieldError("body.format", "format %q is not %s or %s", format, FormatTutorial, FormatCloudEvents)
	}
	var id [6]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never returns an error
	s := subscription{ID: hex.EncodeToString(id[:]), URL: u.String(), Types: types, Format: format, Secret: secret,
		StartSeq: 1, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), ConfiguredBy: ByAPI}
	if !req.FromStart {
		if s.StartSeq, err = p.next(ctx); err != nil {
			return subscription{}, err
		}
	}
	if err := p.subs.insert(ctx, s); err != nil {
		return subscription{}, err
	}
	if err := p.run(ctx, s); err != nil {
		p.log.Warn("cannot start a new subscription; removing it", "subscription", s.ID, "err", err)
		_ = p.subs.remove(context.WithoutCancel(ctx), s.ID)
		return subscription{}, herald.Errorf(herald.EUnavailable, "the event bus cannot start the subscription right now; retry shortly")
	}
	return s, nil
}

// next returns the stream position the next event will get.
func (p *pusher) next(ctx context.Context) (uint64, error) {
	last, err := p.bus.LastSeq(ctx, event.BlogStream)
	if err != nil {
		p.log.Warn("read the blog stream's end", "err", err)
		return 0, herald.Errorf(herald.EUnavailable, "the event bus cannot be read right now; retry shortly")
	}
	return last + 1, nil
}

// remove deletes subscription id: it stops its worker, deletes its row and
// then its durable consumer. A flag subscription is an EConflict: only
// --push removes it.
func (p *pusher) remove(ctx context.Context, id string) error {
	s, err := p.subs.get(ctx, id)
	if err != nil {
		return err
	}
	if s.ConfiguredBy == ByFlag {
		return herald.Errorf(herald.EConflict, "subscription %s to %s is configured by %s; remove the URL from %s and restart the gateway to delete it",
			id, redact(s.URL), FlagPush, FlagPush)
	}
	return p.delete(ctx, s)
}

func (p *pusher) delete(ctx context.Context, s subscription) error {
	p.mu.Lock()
	w, ok := p.running[s.ID]
	delete(p.running, s.ID)
	p.mu.Unlock()
	if ok {
		if err := w.sub.Stop(ctx); err != nil {
			p.log.Warn("stop subscription", "subscription", s.ID, "err", err)
		}
	}
	if err := p.subs.remove(ctx, s.ID); err != nil {
		return err
	}
	p.metrics.pushed.DeletePartialMatch(map[string]string{"subscription": s.ID})
	if err := p.bus.DeleteConsumer(ctx, event.BlogStream, s.Consumer()); err != nil {
		// The row is gone, so the consumer is only an orphan the bus keeps.
		p.log.Warn("delete the durable consumer of a deleted subscription", "consumer", s.Consumer(), "err", err)
	}
	p.log.Info("subscription deleted", "subscription", s.ID, "url", redact(s.URL))
	return nil
}

// flagID is the id of the flag subscription to u: "flag-" and the first 12
// hex digits of its SHA-256, so the same URL keeps its durable consumer
// across restarts.
func flagID(u string) string {
	sum := sha256.Sum256([]byte(u))
	return "flag-" + hex.EncodeToString(sum[:])[:12]
}

// syncFlags makes the flag subscriptions match Config.Push. A URL newly
// listed gets a subscription that receives events from now on (tutorial
// format, every type, signed with Config.Secret); one already there keeps
// its place in the stream and takes the current Config.Secret. A flag
// subscription whose URL --push no longer lists is deleted, with its durable
// consumer: the flag is the only way to manage flag subscriptions (the API
// refuses to delete them), so the list given at start is the whole truth.
// A URL the allowlist refuses fails start; one whose host cannot be resolved
// yet is subscribed anyway (every dial is checked).
func (p *pusher) syncFlags(ctx context.Context) error {
	want := map[string]*url.URL{}
	for _, raw := range p.cfg.Push {
		u, err := checkURL(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", FlagPush, err)
		}
		want[flagID(u.String())] = u
	}
	existing, err := p.subs.list(ctx)
	if err != nil {
		return err
	}
	have := map[string]subscription{}
	for _, s := range existing {
		if s.ConfiguredBy != ByFlag {
			have[s.URL] = s
			continue
		}
		if _, ok := want[s.ID]; !ok {
			p.log.Info("deleting a flag subscription "+FlagPush+" no longer lists", "subscription", s.ID, "url", redact(s.URL))
			if err := p.delete(ctx, s); err != nil {
				return err
			}
			continue
		}
		if s.Secret != p.cfg.Secret {
			if err := p.subs.setSecret(ctx, s.ID, p.cfg.Secret); err != nil {
				return err
			}
		}
		delete(want, s.ID)
	}
	for id, u := range want {
		if api, ok := have[u.String()]; ok {
			p.log.Warn(FlagPush+" names a URL already subscribed through the API; keeping that subscription", "subscription", api.ID, "url", redact(u.String()))
			continue
		}
		if err := p.allow.checkTarget(ctx, u); errors.Is(err, errRefused) {
			return fmt.Errorf("%s %s: %w", FlagPush, redact(u.String()), err)
		} else if err != nil {
			p.log.Warn("subscribing a "+FlagPush+" URL that cannot be checked yet", "url", redact(u.String()), "err", err)
		}
		next, err := p.bus.LastSeq(ctx, event.BlogStream)
		if err != nil {
			return err
		}
		s := subscription{ID: id, URL: u.String(), Types: []string{}, Format: FormatTutorial, Secret: p.cfg.Secret,
			StartSeq: next + 1, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), ConfiguredBy: ByFlag}
		if err := p.subs.insert(ctx, s); err != nil {
			return err
		}
		p.log.Info("flag subscription created", "subscription", id, "url", redact(s.URL))
	}
	return nil
}
