package catalogue

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

var serviceName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Check reports every inconsistency in the catalogue, each naming the
// parties involved: two apps or services of one name, two services with one
// default address, an event type with two owners, an event outside its
// app's stream, a consumer of an event that no service of its app publishes
// and none accepts from outside, two consumers of one name, schemas
// that lack the outbox or the processed-events table a service needs, an
// upcaster that cannot work or reads a type as one its owner does not own
// or as one on another subject, and a consumer that names only part of a
// chain of versions (it would refuse, or never be handed, the others). A
// catalogue that passes can be built and started. `herald up` and `herald
// serve` refuse to start on an error.
func (c Catalogue) Check() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	apps, streams := map[string]bool{}, map[string]string{}
	services := map[string]string{} // service → app
	addrs := map[string]string{}    // default address → service
	owners := map[string]string{}   // event type → owning service
	var durables []durable
	for _, a := range c {
		switch {
		case a.Name == "" || !serviceName.MatchString(a.Name):
			add("app %q: use lower-case letters, digits and '-'", a.Name)
		case apps[a.Name]:
			add("two apps are called %s", a.Name)
		}
		apps[a.Name] = true
		if other, ok := streams[a.Stream]; ok || a.Stream == "" {
			add("apps %s and %s both use stream %q; each app needs a stream of its own", other, a.Name, a.Stream)
		}
		streams[a.Stream] = a.Name
		if a.Subjects == "" {
			add("app %s: stream %s has no subjects", a.Name, a.Stream)
		}
	}
	for _, a := range c {
		for _, s := range a.Services {
			where := s.Name + " (" + a.Name + ")"
			if !serviceName.MatchString(s.Name) {
				add("service %q of %s: use lower-case letters, digits and '-', starting with a letter", s.Name, a.Name)
			}
			if other, ok := services[s.Name]; ok {
				add("two services are called %s: one in %s, one in %s", s.Name, other, a.Name)
			} else if apps[s.Name] {
				add("service %s has the name of an app; a command line could not tell them apart", where)
			}
			services[s.Name] = a.Name
			if s.Addr == "" {
				add("service %s has no default address", where)
			} else if other, ok := addrs[s.Addr]; ok {
				add("services %s and %s both default to address %s", other, where, s.Addr)
			} else {
				addrs[s.Addr] = where
			}
			if s.Check != nil {
				if err := s.Check(); err != nil {
					errs = append(errs, err)
				}
			}
			if s.Impl.setup == nil {
				add("service %s has no Impl (see catalogue.Implement)", where)
			}
			for _, d := range s.Publishes {
				switch {
				case d.Type == "" || d.Payload == nil:
					add("service %s publishes an event type without a name or payload; define it with event.Define", where)
					continue
				case d.Version() <= 0:
					add("event type %s of %s: a version suffix is .v1, .v2, ...", d.Type, where)
				case !SubjectMatches(a.Subjects, d.Subject()):
					add("event type %s of %s travels on %s, outside stream %s (%s)", d.Type, where, d.Subject(), a.Stream, a.Subjects)
				}
				if other, ok := owners[d.Type]; ok {
					add("event type %s has two owners: %s and %s", d.Type, other, where)
				}
				owners[d.Type] = where
				errs = append(errs, checkUpcast(s, d, where)...)
			}
			if s.Writes() && !slices.Contains(s.Migrations, outbox.Schema) {
				add("service %s owns events, but its migrations do not create the outbox (add outbox.Schema)", where)
			}
			if s.Ingress != "" && !SubjectMatches(a.Subjects, s.Ingress) {
				add("service %s accepts events from outside on %s, outside stream %s (%s)", where, s.Ingress, a.Stream, a.Subjects)
			}
			for _, cons := range s.Consumes {
				errs = append(errs, checkConsumer(a, s, cons, &durables)...)
			}
		}
	}
	return errors.Join(errs...)
}

// durable is a consumer's name, or with prefix the prefix of the names of
// its consumers, and the service that declared it.
type durable struct {
	name   string
	prefix bool
	by     string
}

// checkConsumer checks consumer cons of service s of app a, recording its
// durable name in durables.
func checkConsumer(a App, s Service, cons Consumer, durables *[]durable) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	where := s.Name + " (" + a.Name + ")"
	name := a.Durable(s, cons, "")
	for _, other := range *durables {
		if other.name == name || cons.PerSubscription && strings.HasPrefix(other.name, name) || other.prefix && strings.HasPrefix(name, other.name) {
			add("consumer %s is declared by both %s and %s", name, other.by, where)
		}
	}
	*durables = append(*durables, durable{name: name, prefix: cons.PerSubscription, by: where})
	if len(cons.Events) == 0 && cons.All == "" {
		add("consumer %s of %s receives nothing: give it Events or All", name, where)
	}
	if cons.All != "" && !SubjectMatches(a.Subjects, cons.All) {
		add("consumer %s of %s receives %s, outside stream %s (%s)", name, where, cons.All, a.Stream, a.Subjects)
	}
	if !cons.PerSubscription && !slices.Contains(s.Migrations, store.ProcessedSchema) {
		add("service %s runs consumer %s, but its migrations do not create processed_events (add store.ProcessedSchema)", where, name)
	}
	reg := a.Registry()
	errs = append(errs, checkVersions(a, cons, name, where)...)
	for _, d := range cons.Events {
		owner, owned := a.Owner(d.Type)
		if owned {
			if def, _ := reg.Def(d.Type); def.Payload != d.Payload {
				add("consumer %s of %s reads %s as %v, but its owner %s defines it as %v", name, where, d.Type, d.Payload, owner.Name, def.Payload)
			}
			continue
		}
		if !slices.ContainsFunc(a.Services, func(o Service) bool { return o.Ingress != "" && SubjectMatches(o.Ingress, d.Subject()) }) {
			add("consumer %s of %s consumes %s on %s, which no %s service publishes and none accepts from outside", name, where, d.Type, d.Subject(), a.Name)
		}
	}
	return errs
}

// checkUpcast checks the upcaster of event type d, which service s (where)
// owns: it must work, and read d as a newer version of d's own event that s
// owns too, on the same subject, so that subscribers of the one receive
// the other.
func checkUpcast(s Service, d event.Def, where string) []error {
	to, ok := d.Upcast()
	if !ok {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := d.Problem(); err != nil {
		add("service %s: %v", where, err)
	}
	if to.Subject() != d.Subject() || to.Version() <= d.Version() {
		add("event type %s of %s is upcast to %s, which is not a newer version of it on %s", d.Type, where, to.Type, d.Subject())
	}
	if !slices.ContainsFunc(s.Publishes, func(o event.Def) bool { return o.Type == to.Type }) {
		add("event type %s of %s is upcast to %s, which %s does not own: add it to its Publishes", d.Type, where, to.Type, s.Name)
	}
	return errs
}

// checkVersions checks that consumer cons (name, of service where) names
// every version of each event it names: each type it names is read as the
// newest of its chain (event.Def.ReadAs), which its projection must
// handle, and every older version the app owns is stored on the same
// subject, which the consumer must accept.
func checkVersions(a App, cons Consumer, name, where string) []error {
	var errs []error
	names := func(typ string) bool {
		return slices.ContainsFunc(cons.Events, func(d event.Def) bool { return d.Type == typ })
	}
	for _, d := range cons.Events {
		if latest := d.ReadAs(); !names(latest.Type) {
			errs = append(errs, fmt.Errorf("consumer %s of %s applies %s, which every consumer receives as %s: name %s too, and handle it", name, where, d.Type, latest.Type, latest.Type))
		}
	}
	for _, s := range a.Services {
		for _, old := range s.Publishes {
			latest := old.ReadAs().Type
			if latest == old.Type || names(old.Type) || !names(latest) {
				continue
			}
			errs = append(errs, fmt.Errorf("consumer %s of %s applies %s, but not %s, which %s stores on the same subject and every consumer reads as %s: name %s too, or the consumer refuses what is stored",
				name, where, latest, old.Type, s.Name, latest, old.Type))
		}
	}
	return errs
}
