package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/gateway"
)

// TestForbiddenAndUnlistedTargetsAreRefusedAtCreation checks that a
// subscription to a link-local, metadata, unspecified or multicast address
// is refused even when the allowlist says "any", and that one outside the
// allowlist is refused naming the flag to change.
func TestForbiddenAndUnlistedTargetsAreRefusedAtCreation(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Allow = []string{"any"} })
	for _, target := range []string{
		"http://169.254.169.254/latest/meta-data/", "http://169.254.1.1/", "http://[fe80::1]/",
		"http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://0.0.0.0:8080/", "http://[::]/",
		"http://224.0.0.1/", "http://[ff02::1]/", "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/",
	} {
		problemSays(t, send(t, "POST", e.url("/subscriptions"), jsonCT("application/json"), `{"url":"`+target+`"}`), 422, "never allowed")
	}

	loopback := newEnv(t) // the default allowlist: loopback only
	problemSays(t, send(t, "POST", loopback.url("/subscriptions"), jsonCT("application/json"), `{"url":"http://10.1.2.3/hook"}`), 422, "add private to --push-allow")
	problemSays(t, send(t, "POST", loopback.url("/subscriptions"), jsonCT("application/json"), `{"url":"http://8.8.8.8/hook"}`), 422, "add 8.8.8.8 to --push-allow")
	problemSays(t, send(t, "POST", loopback.url("/subscriptions"), jsonCT("application/json"), `{"url":"http://no-such-host.invalid/hook"}`), 422, "cannot resolve")
	loopback.subscribe(map[string]any{"url": "http://localhost:1/hook"})
}

// TestRefusedPushFlagFailsStart checks that a --push URL the allowlist
// refuses stops the gateway from starting, and that bad --push-allow and
// --push-secret values stop Build, each naming its flag.
func TestRefusedPushFlagFailsStart(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := e.cfg
	cfg.Push = []string{"http://10.0.0.1/hook"}
	gw, err := build(ctx, t.TempDir(), cfg, e.bus)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(ctx, e.bus); err == nil || !strings.Contains(err.Error(), "--push-allow") {
		gw.Stop(ctx)
		t.Fatalf("start with a refused --push URL: %v", err)
	}
	gw.Stop(ctx)
	for _, c := range []struct {
		change func(*gateway.Config)
		says   string
	}{
		{func(c *gateway.Config) { c.Allow = []string{"not a host!"} }, "--push-allow"},
		{func(c *gateway.Config) { c.Secret = "whsec_???" }, "--push-secret"},
	} {
		cfg := e.cfg
		c.change(&cfg)
		if _, err := build(ctx, t.TempDir(), cfg, e.bus); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Build: %v, want an error naming %s", err, c.says)
		}
	}
}
