package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald/observe"
)

// SecretPrefix starts a Standard Webhooks secret.
const SecretPrefix = "whsec_"

// parseSecret returns the signing key of a Standard Webhooks secret: the
// base64 (standard encoding) after the optional "whsec_" prefix, decoding to
// 24 to 64 bytes. Like the Standard Webhooks libraries, it accepts the
// secret with or without the prefix, and always base64-decodes it: a secret
// is never used as raw text. "" means unsigned and returns a nil key.
func parseSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("the webhook secret must be %s followed by base64 (e.g. %s$(head -c 32 /dev/urandom | base64)): %v", SecretPrefix, SecretPrefix, err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the webhook secret decodes to %d bytes; Standard Webhooks secrets hold 24 to 64 random bytes", len(key))
	}
	return key, nil
}

// sign returns the Standard Webhooks signature header value of a delivery:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Standard Webhooks headers on every delivery.
const (
	HeaderWebhookID        = "webhook-id"        // the event id: the same on every attempt
	HeaderWebhookTimestamp = "webhook-timestamp" // unix seconds of this attempt
	HeaderWebhookSignature = "webhook-signature" // "v1,<base64>", when the subscription has a secret
)

// maxResponse is how much of a subscriber's answer is read (and then
// discarded, apart from the start of an error's body).
const maxResponse = 64 << 10

// newClient returns the HTTP client deliveries use: it dials only what allow
// allows (checked on the dialled address), uses no proxy (a proxy would dial
// for it, unchecked), and never follows a redirect.
func newClient(allow *allowlist, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           allow.dialContext(timeout),
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// deliver POSTs body to target once with the Standard Webhooks headers,
// signed with key if it is not nil. It returns nil only for a 2xx answer;
// otherwise an error with the status and the start of the answer's body, or
// the connection error. A 3xx is a failure: redirects are not followed.
func deliver(ctx context.Context, client *http.Client, target, contentType, id string, key, body []byte, traceparent string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("push to %s: %w", redact(target), err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "herald-gateway")
	req.Header.Set(HeaderWebhookID, id)
	if traceparent != "" {
		req.Header.Set(observe.HeaderTraceParent, traceparent) // the subscriber continues the trace
	}
	req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	if key != nil {
		req.Header.Set(HeaderWebhookSignature, sign(key, id, ts, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("push %s to %s: %w", id, redact(target), unwrapURLError(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	detail := strings.TrimSpace(abbreviate(answer, 256))
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 {
		detail = "redirect to " + loc + " not followed; subscribe the final URL instead"
	}
	return fmt.Errorf("push %s to %s: subscriber answered %s: %s", id, redact(target), resp.Status, detail)
}

// redact hides a URL's password, which may be a credential.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
