package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// TestDialRefusesWhatTheAllowlistRefuses checks the check made on the
// dialled address itself, which a subscription's creation cannot bypass (by
// DNS rebinding, say): a loopback server is not dialled under an allowlist
// without loopback, nor a forbidden address under "any", and a host name
// entry allows what it resolves to.
func TestDialRefusesWhatTheAllowlistRefuses(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	post := func(allow []string, target string) error {
		a, err := parseAllow(allow)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return deliver(ctx, newClient(a, time.Second), target, "application/json", "id", nil, []byte(`{}`), "")
	}
	for _, tc := range []struct {
		allow  []string
		target string
	}{
		{[]string{"private"}, srv.URL},
		{[]string{"10.0.0.0/8", "8.8.8.8"}, "http://localhost:" + port},
		{[]string{"any"}, "http://169.254.169.254:" + port},
		{[]string{"any"}, "http://[fe80::1]:" + port},
		{[]string{"any"}, "http://0.0.0.0:" + port},
		{[]string{"any", "169.254.169.254"}, "http://169.254.169.254/"},
	} {
		if err := post(tc.allow, tc.target); !errors.Is(err, errRefused) {
			t.Errorf("allow %v, POST %s: %v, want refused at dial", tc.allow, tc.target, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("a refused target was reached %d times", hits.Load())
	}
	for _, allow := range [][]string{{"loopback"}, {"127.0.0.1"}, {"127.0.0.0/8"}, {"localhost"}} {
		target := "http://localhost:" + port
		if err := post(allow, target); err != nil {
			t.Errorf("allow %v, POST %s: %v", allow, target, err)
		}
	}
}

// TestSecretsFollowStandardWebhooks checks the secret formats accepted.
func TestSecretsFollowStandardWebhooks(t *testing.T) {
	const b64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes
	for secret, ok := range map[string]bool{
		"": true, "whsec_" + b64: true, b64: true, "whsec_c2hvcnQ=": false, "whsec_!!": false, "plain text secret": false,
	} {
		if _, err := parseSecret(secret); (err == nil) != ok {
			t.Errorf("parseSecret(%q): %v", secret, err)
		}
	}
	// The example from the Standard Webhooks specification.
	key, _ := parseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("sign: %s, want %s", got, want)
	}
}
