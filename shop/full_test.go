package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/shop"
)

// setStreamLimit re-applies the SHOP stream's configuration with a storage
// limit of maxBytes (0: none), as a service started with --max-stream-bytes
// does.
func (e *env) setStreamLimit(maxBytes int64) {
	e.t.Helper()
	nc, err := e.srv.Connect()
	if err != nil {
		e.t.Fatal(err)
	}
	defer nc.Close()
	b, err := jetstream.New(nc, jetstream.Options{MaxBytes: maxBytes})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := b.EnsureStream(context.Background(), shop.Stream, shop.StreamSubjects); err != nil {
		e.t.Fatal(err)
	}
}

func TestFullStreamRefusesWritesWith503UntilTheLimitIsRaised(t *testing.T) {
	e := newEnv(t)
	e.setStreamLimit(4 << 10)
	users := e.start("users")

	created := 0
	var refusal string
	testenv.Eventually(t, 20*time.Second, func() error {
		code, raw := testenv.Do(t, "POST", users.URL()+"/users",
			signUp("Full", fmt.Sprintf("full%d@example.com", created)), nil)
		switch code {
		case http.StatusCreated:
			created++
			return fmt.Errorf("%d writes accepted, no refusal yet", created)
		case http.StatusServiceUnavailable:
			refusal = string(raw)
			return nil
		}
		t.Fatalf("status %d: %s", code, raw)
		return nil
	})
	var p struct{ Detail string }
	if err := json.Unmarshal([]byte(refusal), &p); err != nil || !strings.Contains(p.Detail, "full") || !strings.Contains(p.Detail, "not made") {
		t.Fatalf("503 detail %q should say the bus is full and the write was not made", p.Detail)
	}
	var stored int
	if err := users.DB.QueryRow(`SELECT count(*) FROM users`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != created {
		t.Fatalf("%d users stored, %d acknowledged: a refused write was made", stored, created)
	}

	e.setStreamLimit(0) // an operator raises the limit
	testenv.Eventually(t, 20*time.Second, func() error {
		n, err := outbox.Pending(context.Background(), users.DB)
		if err == nil && n != 0 {
			err = fmt.Errorf("%d events still in the outbox", n)
		}
		return err
	})
	if n := len(e.events()); n != created {
		t.Fatalf("%d events stored for %d acknowledged writes", n, created)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if code, raw := testenv.Do(t, "POST", users.URL()+"/users", signUp("After", "after@example.com"), nil); code != http.StatusCreated {
			return fmt.Errorf("status %d: %s", code, raw)
		}
		return nil
	})
}
