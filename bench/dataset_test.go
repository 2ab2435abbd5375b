package bench

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop"
	"github.com/heraldev/herald/shop/query"
)

func TestDatasetIsDeterministicAndAnswersLikeTheQueryService(t *testing.T) {
	d := Dataset{Seed: 1, Users: 50, Products: 20, OrdersPerUser: 5}
	if !reflect.DeepEqual(d.Orders(7), d.Orders(7)) || d.Product(3) != d.Product(3) {
		t.Fatal("the same dataset gives different data")
	}
	if reflect.DeepEqual(d.Orders(7), (Dataset{Seed: 2, Users: 50, Products: 20, OrdersPerUser: 5}).Orders(7)) {
		t.Error("another seed gives the same orders")
	}
	for u := int64(1); u <= int64(d.Users); u++ {
		// The answer by definition: newest order first, each product once,
		// cancelled orders left out.
		var want []int64
		os := d.Orders(u)
		for i := len(os) - 1; i >= 0; i-- {
			if o := os[i]; !o.Cancelled && !containsID(want, o.ProductID) {
				want = append(want, o.ProductID)
			}
		}
		var got []int64
		for _, p := range d.Answer(u) {
			got = append(got, p.ID)
			if len(p.Title) < 20 || len(p.Image) < 30 {
				t.Errorf("product %d: title %q and image %q are too short to be realistic", p.ID, p.Title, p.Image)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("user %d: answer %v, want %v", u, got, want)
		}
		var decoded []query.Product
		if err := json.Unmarshal(d.AnswerJSON(u), &decoded); err != nil || len(decoded) != len(want) {
			t.Errorf("user %d: AnswerJSON does not decode to the answer: %v", u, err)
		}
	}
}

func TestDatasetEventsAreValidAndStopAtTheLimit(t *testing.T) {
	d := Dataset{Seed: 1, Users: 30, Products: 10, OrdersPerUser: 5}
	reg := shop.App().Registry()
	n := 0
	err := d.Events(0, func(e event.Envelope) error {
		n++
		return reg.Validate(e)
	})
	if err != nil || n != d.EventCount() {
		t.Fatalf("%d events (%v), want %d valid ones", n, err, d.EventCount())
	}
	n = 0
	if err := d.Events(17, func(event.Envelope) error { n++; return nil }); err != nil || n != 17 {
		t.Errorf("limit 17 gave %d events (%v)", n, err)
	}
	if f := ForEvents(1, 1000, 10); f.EventCount() < 1000 {
		t.Errorf("ForEvents(1000) gives only %d events", f.EventCount())
	}
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
