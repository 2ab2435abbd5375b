package workload

import (
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"
)

// ids makes event ids shaped like Herald's (event.NewID: UUIDv7 text),
// increasing as theirs do, but deterministic: the n-th id has n where a
// UUIDv7 has its millisecond, and random bits from a seeded source, so
// every driver writes the same keys.
type ids struct {
	n   uint64
	rng *rand.Rand
}

func newIDs(first uint64, seed uint64) *ids {
	return &ids{n: first, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// next returns the next id: 36 bytes of lower-case hex and dashes.
func (g *ids) next() string {
	var u [16]byte
	ms := uint64(1_750_000_000_000) + g.n // a millisecond in 2025, plus n
	g.n++
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	r1, r2 := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[6+i] = byte(r1 >> (8 * i))
	}
	u[14], u[15] = byte(r2), byte(r2>>8)
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}

// envelope mirrors event.Envelope's JSON (CloudEvents structured mode),
// which the outbox stores as each event's payload.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	EntityVersion   int64           `json:"entityversion"`
	TraceParent     string          `json:"traceparent,omitempty"`
}

// orderData mirrors event.OrderData.
type orderData struct {
	ID        int64 `json:"id"`
	UserID    int64 `json:"userId"`
	ProductID int64 `json:"productId"`
}

// traceParent is a W3C trace context such as outbox.Add gives an event
// emitted while a request's span is open.
const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// orderCreated returns the outbox payload of shop.order.created.v1 for an
// order, encoded as Herald encodes it (event.New, then Envelope.Encode):
// about 330 bytes.
func orderCreated(eventID string, id, user, product int64, at time.Time) ([]byte, error) {
	data, err := json.Marshal(orderData{ID: id, UserID: user, ProductID: product})
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{
		SpecVersion: "1.0", ID: eventID, Source: "/shop/orders", Type: "shop.order.created.v1",
		Subject: strconv.FormatInt(id, 10), Time: at.Truncate(time.Microsecond), DataContentType: "application/json",
		Data: data, EntityVersion: 1, TraceParent: traceParent,
	})
}
