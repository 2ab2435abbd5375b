package catalogue

import "slices"

// Description is a catalogue as data: what `herald catalogue --json`
// prints, and what a status page or a topology view reads.
type Description struct {
	Apps []AppInfo `json:"apps"`
}

// AppInfo describes one app.
type AppInfo struct {
	Name     string        `json:"name"`
	Summary  string        `json:"summary"`
	Stream   string        `json:"stream"`
	Subjects string        `json:"subjects"`
	Services []ServiceInfo `json:"services"`
	Events   []EventInfo   `json:"events"`
	// Ingress lists the subjects on which services accept events of any
	// type from outside Herald, with who receives them.
	Ingress []IngressInfo `json:"ingress,omitempty"`
}

// ServiceInfo describes one service.
type ServiceInfo struct {
	Name      string         `json:"name"`
	Summary   string         `json:"summary"`
	Addr      string         `json:"addr"`
	Kind      string         `json:"kind"` // "write", "read model" or "gateway"
	Publishes []string       `json:"publishes"`
	Ingress   string         `json:"ingress,omitempty"`
	Consumers []ConsumerInfo `json:"consumers"`
	Routes    []Route        `json:"routes"`
}

// ConsumerInfo describes one durable consumer.
type ConsumerInfo struct {
	Service         string   `json:"service"`
	Name            string   `json:"name"` // with PerSubscription, "<prefix><id>"
	Subjects        []string `json:"subjects"`
	Events          []string `json:"events"`
	PerReplica      bool     `json:"perReplica,omitempty"`      // one per read model replica: <name>-<replica>
	PerSubscription bool     `json:"perSubscription,omitempty"` // one per subscription
	Doc             string   `json:"doc,omitempty"`
}

// EventInfo describes one event type.
type EventInfo struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Subject string `json:"subject"`
	Owner   string `json:"owner"`
	Doc     string `json:"doc"`
	Payload string `json:"payload"` // the Go type of its data
	// ReadAs, for a deprecated type (no longer emitted), is the type every
	// consumer receives its stored events as (event.Def.ReadAs).
	ReadAs    string         `json:"readAs,omitempty"`
	Publisher []string       `json:"publishedBy"`
	Consumers []ConsumerInfo `json:"consumedBy"`
}

// IngressInfo describes events of any type accepted from outside Herald.
type IngressInfo struct {
	Subject   string         `json:"subject"`
	Service   string         `json:"service"`
	Consumers []ConsumerInfo `json:"consumedBy"`
}

// Describe returns c as data. Publishers of an event are its owner and the
// services that accept it from outside ("gateway (from outside)").
func (c Catalogue) Describe() Description {
	var d Description
	for _, a := range c {
		ai := AppInfo{Name: a.Name, Summary: a.Summary, Stream: a.Stream, Subjects: a.Subjects}
		var consumers []ConsumerInfo
		for _, s := range a.Services {
			si := ServiceInfo{Name: s.Name, Summary: s.Summary, Addr: s.Addr, Kind: s.kind(), Ingress: s.Ingress,
				Publishes: []string{}, Consumers: []ConsumerInfo{}, Routes: s.Routes()}
			if si.Routes == nil {
				si.Routes = []Route{}
			}
			for _, e := range s.Publishes {
				si.Publishes = append(si.Publishes, e.Type)
			}
			for _, cons := range s.Consumes {
				ci := ConsumerInfo{Service: s.Name, Name: a.Durable(s, cons, ""), Subjects: cons.Subjects(), Events: []string{},
					PerReplica: s.ReadModel && cons.Name == "", PerSubscription: cons.PerSubscription, Doc: cons.Doc}
				if cons.PerSubscription {
					ci.Name += "<id>"
				}
				for _, e := range cons.Events {
					ci.Events = append(ci.Events, e.Type)
				}
				si.Consumers = append(si.Consumers, ci)
				consumers = append(consumers, ci)
			}
			ai.Services = append(ai.Services, si)
		}
		receivers := func(subject, typ string) []ConsumerInfo {
			out := []ConsumerInfo{}
			for _, ci := range consumers {
				if slices.Contains(ci.Events, typ) || len(ci.Events) == 0 && slices.ContainsFunc(ci.Subjects, func(p string) bool { return SubjectMatches(p, subject) }) {
					out = append(out, ci)
				}
			}
			return out
		}
		for _, def := range a.Registry().Defs() {
			owner, _ := a.Owner(def.Type)
			ei := EventInfo{Type: def.Type, Version: def.Version(), Subject: def.Subject(), Owner: owner.Name, Doc: def.Doc,
				Payload: def.Payload.String(), Publisher: []string{owner.Name}, Consumers: receivers(def.Subject(), def.Type)}
			if def.Deprecated() {
				ei.ReadAs = def.ReadAs().Type
			}
			for _, s := range a.Services {
				if s.Ingress != "" && SubjectMatches(s.Ingress, def.Subject()) {
					ei.Publisher = append(ei.Publisher, s.Name+" (from outside)")
				}
			}
			ai.Events = append(ai.Events, ei)
		}
		for _, s := range a.Services {
			if s.Ingress != "" {
				ai.Ingress = append(ai.Ingress, IngressInfo{Subject: s.Ingress, Service: s.Name, Consumers: receivers(s.Ingress, "")})
			}
		}
		d.Apps = append(d.Apps, ai)
	}
	return d
}

func (s Service) kind() string {
	switch {
	case s.Ingress != "":
		return "gateway"
	case s.ReadModel:
		return "read model"
	case s.Writes():
		return "write"
	}
	return "consumer"
}

// String names the consumer for display: "service (durable)".
func (ci ConsumerInfo) String() string {
	return ci.Service + " (" + ci.Name + ")"
}
