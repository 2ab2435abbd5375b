package catalogue

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/event"
)

// AsyncAPIVersion is the version of the AsyncAPI specification the
// documents follow.
const AsyncAPIVersion = "3.0.0"

// EmbeddedBus is the address of `herald up`'s embedded NATS server, the
// documents' default server.
const EmbeddedBus = "127.0.0.1:4223"

// AsyncAPI returns app's AsyncAPI 3.0 document, generated from the
// catalogue: a channel per NATS subject, a message per event type (its
// payload the CloudEvent envelope, with the JSON Schema of its Go payload
// type as data), and an operation for each service's sending and each of
// its consumers' receiving. With service set it returns that service's part
// only: its operations and the channels, messages and schemas they use.
func AsyncAPI(app App, service string) ([]byte, error) {
	if service != "" {
		if _, ok := app.Service(service); !ok {
			return nil, fmt.Errorf("unknown %s service %q (want one of %v)", app.Name, service, app.Names())
		}
	}
	d, err := newDoc(app, service)
	if err != nil {
		return nil, fmt.Errorf("asyncapi for %s: %w", cmp.Or(service, app.Name), err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // subjects hold '>'
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("asyncapi for %s: %w", cmp.Or(service, app.Name), err)
	}
	return buf.Bytes(), nil
}

type ref struct {
	Ref string `json:"$ref"`
}

type doc struct {
	AsyncAPI           string               `json:"asyncapi"`
	ID                 string               `json:"id"`
	Info               info                 `json:"info"`
	DefaultContentType string               `json:"defaultContentType"`
	Servers            map[string]server    `json:"servers"`
	Channels           map[string]*channel  `json:"channels"`
	Operations         map[string]operation `json:"operations"`
	Components         components           `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type server struct {
	Host        string `json:"host"`
	Protocol    string `json:"protocol"`
	Description string `json:"description"`
}

type channel struct {
	Address     string               `json:"address"`
	Description string               `json:"description"`
	Messages    map[string]ref       `json:"messages"`
	Parameters  map[string]parameter `json:"parameters,omitempty"`
}

type parameter struct {
	Description string `json:"description"`
}

type operation struct {
	Action      string   `json:"action"`
	Channel     ref      `json:"channel"`
	Summary     string   `json:"summary"`
	Description string   `json:"description,omitempty"`
	Messages    []ref    `json:"messages"`
	Service     string   `json:"x-herald-service"`
	Consumers   []string `json:"x-herald-consumers,omitempty"`
}

type components struct {
	Messages map[string]message      `json:"messages"`
	Schemas  map[string]*huma.Schema `json:"schemas"`
}

type message struct {
	Name        string         `json:"name"`
	Title       string         `json:"title"`
	Summary     string         `json:"summary,omitempty"`
	Description string         `json:"description,omitempty"`
	ContentType string         `json:"contentType"`
	Headers     any            `json:"headers"`
	Payload     map[string]any `json:"payload"`
	Owner       string         `json:"x-herald-owner,omitempty"`
	Version     int            `json:"x-herald-version,omitempty"`
	ReadAs      string         `json:"x-herald-read-as,omitempty"` // a deprecated type's: what consumers receive its events as
}

// anyEvent is the message of a channel that carries events of any type.
const anyEvent = "CloudEvent"

// builder assembles one document.
type builder struct {
	app      App
	doc      *doc
	defs     map[string]event.Def // every event type of the app
	channels map[string]*channel  // every channel of the app, by id
	ids      map[string]string    // channel id by subject or pattern
}

func newDoc(app App, only string) (*doc, error) {
	b := &builder{app: app, defs: map[string]event.Def{}, channels: map[string]*channel{}, ids: map[string]string{}}
	title, id := "Herald "+app.Name, "urn:herald:"+app.Name
	if only != "" {
		title, id = app.Title(Service{Name: only}), id+":"+only
	}
	b.doc = &doc{
		AsyncAPI: AsyncAPIVersion,
		ID:       id,
		Info: info{Title: title + " events", Version: "1.0.0",
			Description: strings.TrimSpace(app.Summary + " Every event is a CloudEvent 1.0 in structured JSON on the JetStream stream " +
				app.Stream + " (subjects " + app.Subjects + "), published with its id as Nats-Msg-Id. Generated from Herald's catalogue.")},
		DefaultContentType: "application/cloudevents+json",
		Servers: map[string]server{"herald-up": {Host: EmbeddedBus, Protocol: "nats",
			Description: "The embedded bus of herald up; herald serve --nats names any NATS server or cluster instead."}},
		Operations: map[string]operation{},
	}
	for _, s := range app.Services {
		for _, d := range s.Publishes {
			b.message(d)
		}
	}
	for _, s := range app.Services {
		if s.Ingress != "" {
			b.channel(s.Ingress)
		}
		for _, c := range s.Consumes {
			for _, d := range c.Events {
				if _, ok := b.defs[d.Type]; !ok { // consumed from outside
					b.message(d)
				}
			}
			if c.All != "" {
				b.channel(c.All)
			}
		}
	}
	for _, s := range app.Services {
		if only == "" || s.Name == only {
			b.operations(s)
		}
	}
	return b.doc, b.components()
}

// message adds event type d, as a message of the channel of its subject.
func (b *builder) message(d event.Def) {
	b.defs[d.Type] = d
	b.channels[b.channel(d.Subject())].Messages[d.Type] = ref{"#/components/messages/" + d.Type}
}

// channel returns the id of the channel of subject (or pattern), adding it
// if new. A pattern's wildcards become address parameters.
func (b *builder) channel(subject string) string {
	if id, ok := b.ids[subject]; ok {
		return id
	}
	c := &channel{Address: subject, Messages: map[string]ref{}}
	if strings.ContainsAny(subject, "*>") {
		tokens := strings.Split(subject, ".")
		c.Parameters = map[string]parameter{}
		for i, t := range tokens {
			switch {
			case t == ">":
				tokens[i] = "{type}"
				c.Parameters["type"] = parameter{Description: "The event's type (NATS wildcard >: one or more tokens)."}
			case t == "*":
				name := fmt.Sprintf("token%d", i+1)
				tokens[i] = "{" + name + "}"
				c.Parameters[name] = parameter{Description: fmt.Sprintf("Token %d of the subject (NATS wildcard *).", i+1)}
			}
		}
		c.Address = strings.Join(tokens, ".")
		c.Description = "Events of any type, on " + subject + "."
		c.Messages[anyEvent] = ref{"#/components/messages/" + anyEvent}
	}
	id := strings.NewReplacer("{", "", "}", "").Replace(c.Address)
	for _, taken := b.channels[id]; taken; _, taken = b.channels[id] {
		id += "_"
	}
	b.channels[id], b.ids[subject] = c, id
	return id
}

// operations adds s's operations: a send for each subject it owns events
// on, a send for each it accepts from outside, and a receive for each
// subject its consumers receive.
func (b *builder) operations(s Service) {
	owned := map[string][]string{}   // channel id → types
	current := map[string][]string{} // channel id → types not deprecated
	for _, d := range s.Publishes {
		id := b.ids[d.Subject()]
		owned[id] = append(owned[id], d.Type)
		if !d.Deprecated() {
			current[id] = append(current[id], d.Type)
		}
	}
	for id, types := range owned {
		summary := s.Name + " publishes " + strings.Join(current[id], ", ") + " through its transactional outbox."
		switch {
		case len(current[id]) == 0:
			summary = s.Name + " published " + strings.Join(types, ", ") + ", deprecated: it emits them no more, and stored events of them are upcast on read."
		case len(current[id]) < len(types):
			summary += " The other versions are deprecated: it emits them no more, and stored events of them are upcast on read."
		}
		b.add(s.Name+".send."+id, operation{Action: "send", Service: s.Name, Summary: summary}, id, types)
	}
	if s.Ingress != "" {
		for _, id := range b.within(s.Ingress) {
			b.add(s.Name+".send."+id, operation{Action: "send", Service: s.Name,
				Summary: s.Name + " publishes events posted to it by services outside Herald."}, id, nil)
		}
	}
	for _, c := range s.Consumes {
		name := b.app.Durable(s, c, "")
		desc := "Durable consumer " + name + ": applies each event once (its id is recorded with the change), retries a failing one and then dead-letters it."
		if s.ReadModel {
			desc = "Durable consumer " + name + " (" + name + "-<replica> for a named replica): applies each event once, retries a failing one and then dead-letters it."
		}
		if c.PerSubscription {
			name += "<id>"
			desc = "One durable consumer per subscription, " + name + ", delivering events in stream order."
		}
		if c.Doc != "" {
			desc = c.Doc + " " + desc
		}
		var ids []string
		types := map[string][]string{}
		for _, d := range c.Events {
			id := b.ids[d.Subject()]
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
			types[id] = append(types[id], d.Type)
		}
		if c.All != "" {
			for _, id := range b.within(c.All) {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
				types[id] = nil // every message of the channel
			}
		}
		for _, id := range ids {
			b.add(s.Name+".receive."+id, operation{Action: "receive", Service: s.Name, Consumers: []string{name},
				Summary: s.Name + " consumes " + b.channels[id].Address + ".", Description: desc}, id, types[id])
		}
	}
}

// within returns the ids of the channels whose subjects pattern covers,
// sorted.
func (b *builder) within(pattern string) []string {
	var ids []string
	for subject, id := range b.ids {
		if SubjectMatches(pattern, subject) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// add adds operation op on channel id with messages types (nil: all the
// channel's messages), merging it with an operation of the same id.
func (b *builder) add(opID string, op operation, id string, types []string) {
	ch := b.channels[id]
	if types == nil {
		types = slices.Sorted(maps.Keys(ch.Messages))
	}
	if prev, ok := b.doc.Operations[opID]; ok {
		op.Consumers = append(prev.Consumers, op.Consumers...)
		op.Description = strings.TrimSpace(prev.Description + " " + op.Description)
		for _, m := range prev.Messages {
			types = append(types, strings.TrimPrefix(m.Ref, "#/channels/"+id+"/messages/"))
		}
	}
	slices.Sort(types)
	op.Messages = nil
	for _, t := range slices.Compact(types) {
		op.Messages = append(op.Messages, ref{"#/channels/" + id + "/messages/" + t})
	}
	op.Channel = ref{"#/channels/" + id}
	b.doc.Operations[opID] = op
}

// components fills in the channels the operations use, and their messages
// with the schemas of their payloads.
func (b *builder) components() error {
	gen := newSchemaGen("#/components/schemas/")
	b.doc.Channels = map[string]*channel{}
	b.doc.Components.Messages = map[string]message{}
	for _, op := range b.doc.Operations {
		id := strings.TrimPrefix(op.Channel.Ref, "#/channels/")
		ch := b.channels[id]
		b.doc.Channels[id] = ch
		for typ := range ch.Messages {
			if typ == anyEvent {
				b.doc.Components.Messages[typ] = message{Name: typ, Title: "Any event", ContentType: "application/cloudevents+json",
					Summary: "A CloudEvent of any type, as posted from outside Herald.", Headers: headers, Payload: envelope("", nil)}
				continue
			}
			d := b.defs[typ]
			owner, _ := b.app.Owner(typ)
			if ch.Description == "" {
				ch.Description = "Events of type " + strings.Join(slices.Sorted(maps.Keys(ch.Messages)), ", ") + "."
			}
			data, err := gen.of(d, true)
			if err != nil {
				return err
			}
			m := message{Name: typ, Title: typ, Summary: d.Doc, ContentType: "application/cloudevents+json",
				Headers: headers, Payload: envelope(typ, data), Owner: owner.Name, Version: d.Version()}
			if d.Deprecated() {
				m.Description = "Deprecated: " + typ + " is no longer emitted; stored events of it are " + upcastNote(d) +
					" (every consumer receives them as " + d.ReadAs().Type + ")."
				m.Payload["deprecated"] = true
				m.ReadAs = d.ReadAs().Type
			}
			b.doc.Components.Messages[typ] = m
		}
	}
	b.doc.Components.Schemas = gen.reg.Map()
	return nil
}

// headers are the NATS headers every event is published with.
var headers = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"Nats-Msg-Id": map[string]any{"type": "string",
			"description": "The event's id: JetStream stores an event published again with the same id within its duplicate window (2 minutes) once."},
	},
}

// envelope returns the schema of a CloudEvent of type typ whose data has
// schema data; with typ empty, of any type and data.
func envelope(typ string, data *huma.Schema) map[string]any {
	typeSchema := map[string]any{"type": "string", "const": typ}
	var dataSchema any = data
	required := []string{"specversion", "id", "source", "type", "time", "data"}
	if typ == "" {
		typeSchema = map[string]any{"type": "string", "minLength": 1, "maxLength": event.MaxTypeLen}
		dataSchema = map[string]any{"description": "The event's data, as posted."}
		required = []string{"specversion", "id", "source", "type"}
	}
	return map[string]any{
		"type":     "object",
		"required": required,
		"properties": map[string]any{
			"specversion":     map[string]any{"type": "string", "const": event.SpecVersion},
			"id":              map[string]any{"type": "string", "minLength": 1, "description": "Unique event id (a UUIDv7 for Herald's own events)."},
			"source":          map[string]any{"type": "string", "minLength": 1, "description": "The emitting service, /<app>/<service>."},
			"type":            typeSchema,
			"subject":         map[string]any{"type": "string", "description": "The id of the entity the event is about."},
			"time":            map[string]any{"type": "string", "format": "date-time"},
			"datacontenttype": map[string]any{"type": "string", "const": "application/json"},
			"entityversion":   map[string]any{"type": "integer", "minimum": 0, "description": "The entity's version after the change; projections ignore an event older than what they hold."},
			"traceparent":     map[string]any{"type": "string", "description": "W3C trace context of the request that caused the event."},
			"data":            dataSchema,
		},
	}
}
