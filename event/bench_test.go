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

// BenchmarkCheckedUpcast is what a consumer pays for a stored v1 product
// event, read as v2 (decoded as v1, converted, validated and encoded as
// v2), against a stored v2 event.
func BenchmarkCheckedUpcast(b *testing.B) {
	reg := shopRegistry()
	for name, raw := range map[string]string{"v1": storedV1Created,
		"v2": `{"specversion":"1.0","id":"01a24ee2-03e7-791f-9bd0-0df115602d27","source":"/shop/products","type":"shop.product.created.v2","subject":"5","time":"2026-12-07T05:02:44.711257Z","datacontenttype":"application/json","data":{"id":5,"title":"pants","image":"pants.jpeg","price":1999,"currency":"EUR"},"entityversion":1}`,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, err := event.Parse([]byte(raw))
				if err != nil {
					b.Fatal(err)
				}
				if e, err = reg.Checked(e); err != nil || e.Type != event.ProductCreatedV2 {
					b.Fatal(e.Type, err)
				}
			}
		})
	}
}
