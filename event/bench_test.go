package event_test

import (
	"testing"

	"github.com/heraldev/herald/event"
)

// The hot paths every event takes: created and encoded once by the write
// service's outbox, parsed, validated and decoded by every consumer.

func orderCreated(b *testing.B) event.Envelope {
	b.Helper()
	e, err := event.New("/shop/orders", event.OrderCreated, "123456", 1, event.OrderData{ID: 123456, UserID: 4242, ProductID: 77})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func BenchmarkNewAndEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		e, err := event.New("/shop/orders", event.OrderCreated, "123456", 1, event.OrderData{ID: 123456, UserID: 4242, ProductID: 77})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseValidateDecode(b *testing.B) {
	raw, err := orderCreated(b).Encode()
	if err != nil {
		b.Fatal(err)
	}
	reg := shopRegistry()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := event.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := reg.Validate(e); err != nil {
			b.Fatal(err)
		}
		if _, err := event.Decode[event.OrderData](e); err != nil {
			b.Fatal(err)
		}
	}
}
