package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop"
)

// deadLetter puts a dead letter of consumer in the DLQ, as the bus does
// after the last failed attempt, and returns its DLQ position.
func (s *system) deadLetter(consumer string, seq int) uint64 {
	s.t.Helper()
	env, err := event.New("/orders", "shop.order.created.v1", strconv.Itoa(seq), 1, map[string]int{"id": seq})
	if err != nil {
		s.t.Fatal(err)
	}
	data, err := env.Encode()
	if err != nil {
		s.t.Fatal(err)
	}
	pos, err := s.nats.Bus.PublishHeader(context.Background(), "dlq."+consumer, "dlq/"+env.ID, map[string]string{
		jetstream.HeaderConsumer: consumer, jetstream.HeaderStream: shop.Stream,
		jetstream.HeaderSequence: strconv.Itoa(seq), jetstream.HeaderSubject: "shop.order.created",
		jetstream.HeaderMsgID: env.ID, jetstream.HeaderError: "boom", jetstream.HeaderAttempts: "3",
		jetstream.HeaderFailedAt: time.Now().UTC().Format(time.RFC3339Nano),
	}, data)
	if err != nil {
		s.t.Fatal(err)
	}
	return pos
}

func TestDeadLettersRedriveAndDiscardNeedTheAdminToken(t *testing.T) {
	sys := newSystem(t)
	dir := t.TempDir()
	key, set, err := auth.Ensure(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	iss := &auth.Issuer{Key: key}
	operator, _, err := iss.IssueOperator(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	user, _, err := iss.Issue(7, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	o := sys.options()
	o.Auth = auth.NewVerifier(func() *auth.KeySet { return set })
	url := serve(t, o)
	open := serve(t, sys.options())

	a, b := sys.deadLetter("shop-query", 1), sys.deadLetter("shop-query", 2)
	c, d := sys.deadLetter("shop-orders", 3), sys.deadLetter("shop-orders", 4)

	var list DeadLetters
	if code, body := call(t, "GET", url+"/api/dlq", "", nil, &list); code != 200 || len(list.DeadLetters) != 4 {
		t.Fatalf("%d %s", code, body)
	}
	call(t, "GET", url+"/api/dlq?consumer=shop-query", "", nil, &list)
	if len(list.DeadLetters) != 2 {
		t.Fatalf("%+v", list)
	}
	dl := list.DeadLetters[0]
	if dl.Seq != a || dl.Consumer != "shop-query" || dl.Stream != shop.Stream || dl.Subject != "shop.order.created" ||
		dl.Error != "boom" || dl.Attempts != 3 || dl.FailedAt.IsZero() || dl.Sequence != 1 || len(dl.Event) == 0 || dl.Event[0] != '{' {
		t.Fatalf("dead letter %+v", dl)
	}
	wantProblem(t, http.StatusUnprocessableEntity, "GET", url+"/api/dlq?consumer=a.b", "", nil)
	wantProblem(t, http.StatusBadRequest, "GET", url+"/api/dlq?consumr=x", "", nil)

	for _, action := range []string{"redrive", "discard"} {
		wantProblem(t, http.StatusUnauthorized, "POST", url+"/api/dlq/"+action, "", Seqs{[]uint64{a}})
		wantProblem(t, http.StatusUnauthorized, "POST", url+"/api/dlq/"+action, "not-a-token", Seqs{[]uint64{a}})
		wantProblem(t, http.StatusForbidden, "POST", url+"/api/dlq/"+action, user, Seqs{[]uint64{a}})
		wantProblem(t, http.StatusUnprocessableEntity, "POST", url+"/api/dlq/"+action, operator, Seqs{})
		wantProblem(t, http.StatusUnprocessableEntity, "POST", url+"/api/dlq/"+action, operator, Seqs{[]uint64{0}})
		wantProblem(t, http.StatusBadRequest, "POST", url+"/api/dlq/"+action, operator, map[string]any{"seq": 1})
	}

	var done Done
	if code, body := call(t, "POST", url+"/api/dlq/redrive", operator, Seqs{[]uint64{a, 999}}, &done); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if !slices.Equal(done.Done, []uint64{a}) || len(done.Failed) != 1 || done.Failed[0].Seq != 999 || done.Failed[0].Error == "" {
		t.Fatalf("redrive: %+v", done)
	}
	redriven, err := sys.nats.Bus.Read(context.Background(), shop.Stream, []string{"shop.redrive.shop-query"}, 0, 0)
	if err != nil || len(redriven) != 1 {
		t.Fatalf("redriven messages: %d, %v", len(redriven), err)
	}
	if code, body := call(t, "POST", url+"/api/dlq/discard", operator, Seqs{[]uint64{b, c}}, &done); code != 200 || !slices.Equal(done.Done, []uint64{b, c}) || len(done.Failed) != 0 {
		t.Fatalf("discard: %d %s", code, body)
	}
	// Without a verifier the actions are open.
	if code, body := call(t, "POST", open+"/api/dlq/discard", "", Seqs{[]uint64{d}}, &done); code != 200 || !slices.Equal(done.Done, []uint64{d}) {
		t.Fatalf("open discard: %d %s", code, body)
	}
	call(t, "GET", url+"/api/dlq", "", nil, &list)
	if len(list.DeadLetters) != 0 {
		t.Fatalf("left: %+v", list)
	}

	// Stop and start need the admin token too.
	o.Control = &fakeControl{stopped: map[string]bool{}}
	ctl := serve(t, o)
	wantProblem(t, http.StatusForbidden, "POST", ctl+"/api/services/products/stop", user, nil)
	if code, body := call(t, "POST", ctl+"/api/services/products/stop", operator, nil, nil); code != 200 {
		t.Fatal(fmt.Sprint(code, body))
	}
}
