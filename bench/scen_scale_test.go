package bench

import (
	"testing"

	"github.com/heraldev/herald/event"
)

func TestScaleDatasetsHoldTheirEventsAndAtMostFiveProductsPerAnswer(t *testing.T) {
	for _, c := range []scaleCase{{1000, 10_000}, {1000, 40_000}, {10_000, 40_000}, {10_000, 100_000}} {
		d := c.dataset()
		if got := d.EventCount(); got < c.events {
			t.Errorf("%s: the dataset (%d orders per user) has %d events, want at least %d", c, d.OrdersPerUser, got, c.events)
		}
		n := 0
		if err := d.Events(c.events, func(event.Envelope) error { n++; return nil }); err != nil || n != c.events {
			t.Errorf("%s: %d events (%v), want %d", c, n, err, c.events)
		}
		if u := completeUsers(d, c.events); u < c.users*8/10 {
			t.Errorf("%s: %d users complete, want most of %d", c, u, c.users)
		}
		for u := int64(1); u <= 50; u++ {
			if a := d.Answer(u); len(a) > scaleProducts {
				t.Fatalf("%s: user %d's answer has %d products, want at most %d", c, u, len(a), scaleProducts)
			}
		}
	}
}

func TestTheFullRunsScaleDatasetHoldsTwoMillionEvents(t *testing.T) {
	c := scaleCase{10_000, 2_000_000}
	if d := c.dataset(); d.EventCount() < c.events {
		t.Errorf("%s: the dataset (%d orders per user) has %d events, want at least %d", c, d.OrdersPerUser, d.EventCount(), c.events)
	}
}

func TestShortWritesThousandsAndMillions(t *testing.T) {
	for n, want := range map[int]string{999: "999", 1000: "1k", 10_000: "10k", 1_000_000: "1M", 2_500_000: "2.5M", 40_000: "40k"} {
		if got := short(n); got != want {
			t.Errorf("short(%d) = %q, want %q", n, got, want)
		}
	}
}
