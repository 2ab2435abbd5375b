package catalogue_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
	"github.com/heraldev/herald/store"
)

type thing struct {
	ID int64 `json:"id"`
}

func (thing) Validate() error { return nil }

type otherThing struct {
	Name string `json:"name"`
}

func (otherThing) Validate() error { return nil }

var (
	thingMade = event.Define[thing]("test.thing.made.v1", "A thing was made.")
	thingGone = event.Define[thing]("test.thing.gone.v1", "A thing went.")
	misread   = event.Define[otherThing]("test.thing.made.v1", "")
	elsewhere = event.Define[thing]("other.thing.made.v1", "")
	noVersion = event.Define[thing]("test.thing.made.v0", "")
	// thingMadeV2 supersedes thingMade's v1; thingMadeV1 is read as it.
	thingMadeV2 = event.Define[otherThing]("test.thing.made.v2", "A thing was made, with its name.")
	thingMadeV1 = event.DefineUpcast("test.thing.made.v1", "A thing was made.", thingMadeV2, func(d thing) otherThing { return otherThing{Name: "unnamed"} })
	upcastAside = event.DefineUpcast("test.thing.made.v1", "", thingGone, func(d thing) thing { return d })
	upcastAmiss = event.DefineUpcast("test.thing.made.v1", "", thingMadeV2, func(d thing) thing { return d })
	nothingImp  = catalogue.Implement(func(context.Context, *catalogue.Runtime) (struct{}, error) { return struct{}{}, nil }, nil)
)

func writer(name, addr string, owns ...event.Def) catalogue.Service {
	return catalogue.Service{Name: name, Addr: addr, Migrations: []store.Migration{outbox.Schema}, Publishes: owns, Impl: nothingImp}
}

func reader(name, addr string, reads ...event.Def) catalogue.Service {
	return catalogue.Service{Name: name, Addr: addr, Migrations: []store.Migration{store.ProcessedSchema}, ReadModel: true,
		Consumes: []catalogue.Consumer{{Events: reads}}, Impl: nothingImp}
}

func testApp(services ...catalogue.Service) catalogue.App {
	return catalogue.App{Name: "test", Stream: "TEST", Subjects: "test.>", Services: services}
}

// TestCheckRefusesAnInconsistentCatalogueNamingBothParties: each mistake a
// contributor can make in a descriptor is refused with an error that names
// what clashes with what.
func TestCheckRefusesAnInconsistentCatalogueNamingBothParties(t *testing.T) {
	for _, tc := range []struct {
		name string
		cat  catalogue.Catalogue
		want []string // substrings of the error; none means no error
	}{
		{"consistent", catalogue.Catalogue{testApp(writer("a", ":1", thingMade, thingGone), reader("r", ":2", thingMade, thingGone))}, nil},
		{"two owners of one event type", catalogue.Catalogue{testApp(writer("a", ":1", thingMade), writer("b", ":2", thingMade))},
			[]string{"test.thing.made.v1 has two owners", "a (test)", "b (test)"}},
		{"a consumer of an event nobody publishes", catalogue.Catalogue{testApp(writer("a", ":1", thingGone), reader("r", ":2", thingMade))},
			[]string{"consumer test-r of r (test)", "test.thing.made.v1 on test.thing.made", "no test service publishes and none accepts from outside"}},
		{"an event nobody publishes but a gateway accepts from outside", catalogue.Catalogue{testApp(
			catalogue.Service{Name: "gw", Addr: ":1", Ingress: "test.thing.>", Impl: nothingImp}, reader("r", ":2", thingMade))}, nil},
		{"two consumers of one name", catalogue.Catalogue{testApp(writer("a", ":1", thingMade), reader("r", ":2", thingMade), func() catalogue.Service {
			s := reader("s", ":3", thingMade)
			s.Consumes[0].Name = "test-r"
			return s
		}())}, []string{"consumer test-r is declared by both r (test) and s (test)"}},
		{"a consumer name inside another's prefix", catalogue.Catalogue{testApp(writer("a", ":1", thingMade), func() catalogue.Service {
			s := reader("push", ":2", thingMade)
			s.Consumes[0] = catalogue.Consumer{Name: "test-r", PerSubscription: true, All: "test.>"}
			return s
		}(), reader("r", ":3", thingMade))}, []string{"consumer test-r is declared by both push (test) and r (test)"}},
		{"two services of one name", catalogue.Catalogue{testApp(writer("a", ":1", thingMade)),
			{Name: "other", Stream: "OTHER", Subjects: "other.>", Services: []catalogue.Service{writer("a", ":2", elsewhere)}}},
			[]string{"two services are called a: one in test, one in other"}},
		{"two streams of one name", catalogue.Catalogue{testApp(writer("a", ":1", thingMade)),
			{Name: "other", Stream: "TEST", Subjects: "other.>", Services: []catalogue.Service{writer("b", ":2", elsewhere)}}},
			[]string{"apps test and other both use stream \"TEST\""}},
		{"two services on one default address", catalogue.Catalogue{testApp(writer("a", ":1", thingMade), reader("r", ":1", thingMade))},
			[]string{"services a (test) and r (test) both default to address :1"}},
		{"an event outside the app's stream", catalogue.Catalogue{testApp(writer("a", ":1", elsewhere))},
			[]string{"other.thing.made.v1 of a (test) travels on other.thing.made, outside stream TEST (test.>)"}},
		{"a malformed version", catalogue.Catalogue{testApp(writer("a", ":1", noVersion))}, []string{"test.thing.made.v0 of a (test)", ".v1, .v2"}},
		{"a consumer reading an event as another type", catalogue.Catalogue{testApp(writer("a", ":1", thingMade), reader("r", ":2", misread))},
			[]string{"consumer test-r of r (test) reads test.thing.made.v1 as catalogue_test.otherThing", "its owner a defines it as catalogue_test.thing"}},
		{"a write service without an outbox", catalogue.Catalogue{testApp(func() catalogue.Service {
			s := writer("a", ":1", thingMade)
			s.Migrations = nil
			return s
		}())}, []string{"a (test) owns events", "outbox.Schema"}},
		{"a consumer without processed_events", catalogue.Catalogue{testApp(writer("a", ":1", thingMade), func() catalogue.Service {
			s := reader("r", ":2", thingMade)
			s.Migrations = nil
			return s
		}())}, []string{"r (test) runs consumer test-r", "store.ProcessedSchema"}},
		{"a service's own check", catalogue.Catalogue{testApp(func() catalogue.Service {
			s := writer("a", ":1", thingMade)
			s.Check = func() error { return errSetting }
			return s
		}())}, []string{errSetting.Error()}},
		{"a service named like an app", catalogue.Catalogue{testApp(writer("test", ":1", thingMade))}, []string{"service test (test) has the name of an app"}},
		{"two versions, each consumed", catalogue.Catalogue{testApp(writer("a", ":1", thingMadeV2, thingMadeV1), reader("r", ":2", thingMadeV1, thingMadeV2))}, nil},
		{"an upcast to a type the owner does not own", catalogue.Catalogue{testApp(writer("a", ":1", thingMadeV1), writer("b", ":2", thingMadeV2))},
			[]string{"test.thing.made.v1 of a (test) is upcast to test.thing.made.v2, which a does not own"}},
		{"an upcast to another event", catalogue.Catalogue{testApp(writer("a", ":1", upcastAside, thingGone))},
			[]string{"test.thing.made.v1 of a (test) is upcast to test.thing.gone.v1, which is not a newer version of it on test.thing.made"}},
		{"an upcaster returning another payload", catalogue.Catalogue{testApp(writer("a", ":1", upcastAmiss, thingMadeV2))},
			[]string{"service a (test)", "upcast to test.thing.made.v2 by a function returning catalogue_test.thing", "catalogue_test.otherThing"}},
		{"a consumer of the old version only", catalogue.Catalogue{testApp(writer("a", ":1", thingMadeV2, thingMadeV1), reader("r", ":2", thingMadeV1))},
			[]string{"consumer test-r of r (test) applies test.thing.made.v1, which every consumer receives as test.thing.made.v2: name test.thing.made.v2 too"}},
		{"a consumer of the new version only", catalogue.Catalogue{testApp(writer("a", ":1", thingMadeV2, thingMadeV1), reader("r", ":2", thingMadeV2))},
			[]string{"consumer test-r of r (test) applies test.thing.made.v2, but not test.thing.made.v1, which a stores on the same subject", "name test.thing.made.v1 too"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cat.Check()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check passed; want an error saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check: %v\nwant it to say %q", err, w)
				}
			}
		})
	}
}

var errSetting = errors.New("banned word 2 of 2 is blank; fix --banned-words")

// TestHeraldsCatalogueIsConsistent: the shop and the blog as they ship.
func TestHeraldsCatalogueIsConsistent(t *testing.T) {
	if err := (catalogue.Catalogue{shop.App(), blog.App(blog.Options{})}).Check(); err != nil {
		t.Fatal(err)
	}
}

// TestBuildRefusesAConsumerItsSetupGaveNoProjection: a declared consumer
// must get a projection, and a projection must belong to a declared
// consumer, or Build fails naming it.
func TestBuildRefusesAConsumerItsSetupGaveNoProjection(t *testing.T) {
	forgetful := reader("r", "127.0.0.1:0", thingMade)
	forgetful.Impl = catalogue.Implement(func(context.Context, *catalogue.Runtime) (struct{}, error) { return struct{}{}, nil }, nil)
	stray := reader("r", "127.0.0.1:0", thingMade)
	stray.Impl = catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (struct{}, error) {
		rt.Project("", service.Projection{Apply: nil})
		rt.Project("extra", service.Projection{})
		return struct{}{}, nil
	}, nil)
	for _, tc := range []struct {
		s    catalogue.Service
		want string
	}{
		{forgetful, "consumer test-r is declared, but setup gave it no projection"},
		{stray, `setup gave a projection to consumer "extra", which the catalogue does not declare`},
	} {
		_, err := catalogue.Build(t.Context(), testApp(writer("a", ":1", thingMade), tc.s), "r", service.Config{DataDir: t.TempDir()}, catalogue.Deps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build: %v, want an error saying %q", err, tc.want)
		}
	}
}

func TestResolveExpandsAppsAndKeepsStartOrder(t *testing.T) {
	cat := catalogue.Catalogue{shop.App(), blog.App(blog.Options{})}
	ts, err := cat.Resolve([]string{"gateway", "query", "shop", "posts"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range ts {
		got = append(got, tg.App.Name+"/"+tg.Service.Name)
	}
	if want := "shop/users shop/products shop/orders shop/query blog/posts blog/gateway"; strings.Join(got, " ") != want {
		t.Fatalf("Resolve = %v, want %s", got, want)
	}
	if _, err := cat.Resolve([]string{"quarry"}); err == nil || !strings.Contains(err.Error(), "blog-query") {
		t.Fatalf("unknown name: %v, want an error listing the names", err)
	}
}

func TestSubjectMatchesFollowsNATSWildcards(t *testing.T) {
	for _, tc := range []struct {
		pattern, subject string
		want             bool
	}{
		{"shop.>", "shop.user.created", true},
		{"shop.>", "shop", false},
		{"shop.*.created", "shop.user.created", true},
		{"shop.*.created", "shop.user.updated", false},
		{"shop.user.created", "shop.user.created", true},
		{"shop.user.created", "shop.user", false},
		{"blog.>", "blog.event.>", true},        // a pattern inside a pattern
		{"blog.event.>", "blog.>", false},       // wider than the pattern
		{"blog.event.*", "blog.event.>", false}, // > spans more tokens than *
	} {
		if got := catalogue.SubjectMatches(tc.pattern, tc.subject); got != tc.want {
			t.Errorf("SubjectMatches(%q, %q) = %v, want %v", tc.pattern, tc.subject, got, tc.want)
		}
	}
}

func TestConsumerFindsTheServiceOfADurableName(t *testing.T) {
	cat := heraldApps()
	for durable, want := range map[string]string{
		"shop-orders": "orders", "shop-query": "query", "shop-query-a": "query", "blog-query": "blog-query",
		"blog-query-b": "blog-query", "blog-push-3f9c0a1b2c4d": "gateway", "blog-moderation": "moderation",
	} {
		if _, s, _, ok := cat.Consumer(durable); !ok || s.Name != want {
			t.Errorf("Consumer(%q) = %s, %v; want %s", durable, s.Name, ok, want)
		}
	}
	if _, s, _, ok := cat.Consumer("shop-users"); ok {
		t.Errorf("Consumer(shop-users) = %s; users runs no consumer", s.Name)
	}
}
