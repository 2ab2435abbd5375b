package gateway

import (
	"testing"

	"github.com/heraldev/herald/event"
)

// BenchmarkCheckAgainstTheSchema is what the JSON Schema check adds to
// POST /events for a known type, beside the Go rules it already ran.
func BenchmarkCheckAgainstTheSchema(b *testing.B) {
	sch, err := compileSchemas([]event.Def{event.PostCreatedDef})
	if err != nil {
		b.Fatal(err)
	}
	reg := event.NewRegistry(event.PostCreatedDef)
	e := event.Envelope{Type: event.PostCreated, Data: []byte(`{"id":"019aa8d2-5c1e-7b3a-9d4e-2f6a8b1c3d5e","title":"Hello from the benchmark, a title of some length"}`)}
	b.Run("schema", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if vs := sch.check(e, "/data"); len(vs) > 0 {
				b.Fatal(vs)
			}
		}
	})
	b.Run("go-rules", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := reg.Validate(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
