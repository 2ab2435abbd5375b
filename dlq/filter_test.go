package dlq

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
)

func TestParseTimeTakesATimeOrADurationAgo(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"", time.Time{}, ""},
		{"2h", now.Add(-2 * time.Hour), ""},
		{" 90s ", now.Add(-90 * time.Second), ""},
		{"2025-05-31T10:00:00Z", time.Date(2025, 5, 31, 10, 0, 0, 0, time.UTC), ""},
		{"2025-05-31T10:00:00.5+02:00", time.Date(2025, 5, 31, 8, 0, 0, 5e8, time.UTC), ""},
		{"-2h", time.Time{}, "without a sign"},
		{"yesterday", time.Time{}, "neither a time"},
		{"2025-05-31", time.Time{}, "RFC 3339"},
	} {
		got, err := ParseTime(c.in, now)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseTime(%q) = %v, %v; want an error saying %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || !got.Equal(c.want)):
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestCheckRefusesASelectionThatNamesNothing(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		f    Filter
		err  string
	}{
		{"nothing", Filter{}, "name the dead letters"},
		{"positions", Filter{Seqs: []uint64{3}}, ""},
		{"all", Filter{All: true}, ""},
		{"a filter alone", Filter{Type: "shop.product.created.v1"}, ""},
		{"a time alone", Filter{Since: now}, ""},
		{"positions and all", Filter{All: true, Seqs: []uint64{1}}, "not both"},
		{"position 0", Filter{Seqs: []uint64{0}}, "start at 1"},
		{"since after until", Filter{All: true, Since: now, Until: now.Add(-time.Hour)}, "after until"},
	} {
		err := c.f.Check()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.err)
		}
	}
	if !errors.Is(Filter{}.Check(), ErrNothingNamed) {
		t.Error("an empty filter's error does not wrap ErrNothingNamed")
	}
}

func TestMatchSelectsByTypeConsumerAndFailedAt(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	d := bus.DeadLetter{Consumer: "shop-query", ID: "msg-1", FailedAt: at,
		Data: []byte(`{"id":"ev-1","type":"shop.product.created.v1"}`)}
	for _, c := range []struct {
		f    Filter
		want bool
	}{
		{Filter{All: true}, true},
		{Filter{Type: "shop.product.created.v1"}, true},
		{Filter{Type: "shop.user.created.v1"}, false},
		{Filter{Consumer: "shop-query"}, true},
		{Filter{Consumer: "shop-orders"}, false},
		{Filter{Since: at, Until: at}, true},
		{Filter{Since: at.Add(time.Second)}, false},
		{Filter{Until: at.Add(-time.Second)}, false},
	} {
		if got := c.f.Match(d); got != c.want {
			t.Errorf("%+v matches: %v, want %v", c.f, got, c.want)
		}
	}
	if ev := EventOf(d); ev.ID != "ev-1" || ev.Type != "shop.product.created.v1" {
		t.Errorf("EventOf = %+v", ev)
	}
	notJSON := bus.DeadLetter{ID: "msg-2", Data: []byte("{not json")}
	if ev := EventOf(notJSON); ev.ID != "msg-2" || ev.Type != "" {
		t.Errorf("EventOf(not JSON) = %+v, want the message id and no type", ev)
	}
	if (Filter{Type: "x"}).Match(notJSON) || (Filter{Since: at}).Match(notJSON) {
		t.Error("a dead letter with no type or failed-at matched a type or time filter")
	}
}
