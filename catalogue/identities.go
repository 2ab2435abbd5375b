package catalogue

import (
	"slices"

	"github.com/heraldev/herald/bus/jetstream"
)

// Identities returns the NATS identities of the catalogue's services, and
// the admin identity first: each service may publish only the subjects of
// the event types it owns (and, for a service with Ingress, that pattern),
// and use only the durable consumers it declares. replicas names the read
// model replicas (herald serve query --replica NAME) whose consumers
// (<app>-<service>-<name>) are allowed; "" is the unnamed replica, whose
// consumer is <app>-<service>. A service with per-subscription consumers
// (the gateway) may create consumers of any name on its app's stream
// except the other services' durables. A service that consumes may read
// its app's stream by position (its lag in seconds); so may one with
// Ingress (the gateway's GET /events).
//
// The same catalogue and replicas always give the same identities, so the
// embedded bus, herald nats-config and every service agree.
func (c Catalogue) Identities(replicas []string) []jetstream.Identity {
	if len(replicas) == 0 {
		replicas = []string{""}
	}
	ids := []jetstream.Identity{{Name: jetstream.AdminIdentity, Admin: true}}
	for _, a := range c {
		all := a.durables(replicas)
		for _, s := range a.Services {
			id := jetstream.Identity{Name: s.Name, Stream: a.Stream, ReadStream: len(s.Consumes) > 0 || s.Ingress != ""}
			for _, d := range s.Publishes {
				if subj := d.Subject(); !slices.Contains(id.Publish, subj) {
					id.Publish = append(id.Publish, subj)
				}
			}
			if s.Ingress != "" {
				id.Publish = append(id.Publish, s.Ingress)
				id.DenyPublish = a.ownedElsewhere(s)
			}
			id.Durables = a.serviceDurables(s, replicas)
			for _, cons := range s.Consumes {
				id.AnyConsumer = id.AnyConsumer || cons.PerSubscription
			}
			if id.AnyConsumer {
				for _, d := range all {
					if !slices.Contains(id.Durables, d) {
						id.Others = append(id.Others, d)
					}
				}
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// ownedElsewhere returns the subjects of the event types that services of
// a other than s own and s does not take from outside (Service.External).
func (a App) ownedElsewhere(s Service) []string {
	var out []string
	for _, o := range a.Services {
		if o.Name == s.Name {
			continue
		}
		for _, d := range o.Publishes {
			if subj := d.Subject(); !slices.Contains(s.External, d.Type) && !slices.Contains(out, subj) {
				out = append(out, subj)
			}
		}
	}
	return out
}

// serviceDurables returns the names of the durable consumers s runs, with
// one per replica for a read model; per-subscription consumers, named at
// run time, are left out.
func (a App) serviceDurables(s Service, replicas []string) []string {
	var out []string
	for _, cons := range s.Consumes {
		if cons.PerSubscription {
			continue
		}
		if s.ReadModel && cons.Name == "" {
			for _, r := range replicas {
				out = append(out, a.Durable(s, cons, r))
			}
			continue
		}
		out = append(out, a.Durable(s, cons, ""))
	}
	return out
}

func (a App) durables(replicas []string) []string {
	var out []string
	for _, s := range a.Services {
		out = append(out, a.serviceDurables(s, replicas)...)
	}
	return out
}
