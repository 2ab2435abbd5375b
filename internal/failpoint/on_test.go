//go:build faults

package failpoint

import "testing"

func TestParseReadsNameActionAndHit(t *testing.T) {
	got := parse("consumer-after-commit=kill@25, relay-after-ack=panic,handler=panic-if:POISON,bad")
	if p := got["consumer-after-commit"]; p == nil || p.action != "kill" || p.at != 25 {
		t.Errorf("consumer-after-commit = %+v", p)
	}
	if p := got["relay-after-ack"]; p == nil || p.action != "panic" || p.at != 1 {
		t.Errorf("relay-after-ack = %+v", p)
	}
	if p := got["handler"]; p == nil || p.action != "panic-if:POISON" {
		t.Errorf("handler = %+v", p)
	}
	if len(got) != 3 {
		t.Errorf("parsed %d points, want 3: %v", len(got), got)
	}
}

func TestPanicFiresOnlyAtItsHit(t *testing.T) {
	mu.Lock()
	points = parse("p=panic@3")
	mu.Unlock()
	panics := 0
	for range 5 {
		func() {
			defer func() {
				if recover() != nil {
					panics++
				}
			}()
			Inject("p")
		}()
	}
	if panics != 1 {
		t.Fatalf("panicked %d times in 5 hits, want once (at the 3rd)", panics)
	}
}

func TestPanicIfMatchesData(t *testing.T) {
	mu.Lock()
	points = parse("handler=panic-if:POISON")
	mu.Unlock()
	for _, c := range []struct {
		data  string
		panic bool
	}{{"fine", false}, {`{"title":"POISON"}`, true}, {"POISON again", true}} {
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			InjectData("handler", []byte(c.data))
			return false
		}()
		if panicked != c.panic {
			t.Errorf("data %q: panicked=%v, want %v", c.data, panicked, c.panic)
		}
	}
}
