package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Herald runs secured in the bench, as in production (issue 16): each
// herald bus makes its services' NATS identities in its data dir (see
// startBus), and every herald serve of a run verifies tokens with the keys
// of one `herald keys` run (see keys). The bench calls the services as the
// operator (the admin token) wherever it acts for many users at once: the
// write load's orders, the reads of seeded users (who have no password),
// /metrics and the profiles. The journey scenario signs a user up and in,
// and places and reads back that user's order with the user's own token.

// runKeys are the token keys shared by every service of a run.
type runKeys struct {
	dir   string // signing.pem, jwks.json, admin.token
	admin string // the operator token
}

// keys runs `herald keys` once per run, into the run's scratch folder, and
// returns its keys.
func (e *env) keys(ctx context.Context) (runKeys, error) {
	e.keysOnce.Do(func() {
		dir := filepath.Join(e.work, "keys")
		out, err := e.herald(ctx, "keys", "--dir", dir)
		if err != nil {
			e.keysErr = fmt.Errorf("herald keys: %w\n%s", err, out)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err != nil {
			e.keysErr = fmt.Errorf("herald keys: %w", err)
			return
		}
		e.runKeys = runKeys{dir: dir, admin: strings.TrimSpace(string(b))}
		if e.runKeys.admin == "" {
			e.keysErr = fmt.Errorf("herald keys wrote an empty %s", filepath.Join(dir, "admin.token"))
		}
	})
	return e.runKeys, e.keysErr
}

// adminToken is the operator token, once keys has run ("" before).
func (e *env) adminToken() string { return e.runKeys.admin }

// authFlags are the herald serve flags of service for the run's keys: the
// public keys for every service, the signing key for users only. Where
// the binary has rate limits per client (--write-rate, --sign-in-rate),
// they are off: the bench is one client sending the load of many.
func (e *env) authFlags(ctx context.Context, service string) ([]string, error) {
	k, err := e.keys(ctx)
	if err != nil {
		return nil, err
	}
	args := []string{"--auth-keys", filepath.Join(k.dir, "jwks.json")}
	if service == "users" {
		args = append(args, "--auth-signing-key", filepath.Join(k.dir, "signing.pem"))
	}
	for _, limit := range []string{"--write-rate", "--sign-in-rate"} {
		if e.helpHas(ctx, "serve", limit) {
			args = append(args, limit, "0")
		}
	}
	return args, nil
}

// helpHas reports whether `herald <command> --help` lists flag, for flags
// that not every build has. It is safe for concurrent use.
func (e *env) helpHas(ctx context.Context, command, flag string) bool {
	e.mu.Lock()
	text, found := e.helps[command]
	e.mu.Unlock()
	if !found {
		out, _ := e.herald(ctx, command, "--help")
		text = string(out)
		e.mu.Lock()
		if e.helps == nil {
			e.helps = map[string]string{}
		}
		e.helps[command] = text
		e.mu.Unlock()
	}
	return strings.Contains(text, flag+"=") || strings.Contains(text, flag+" ")
}

// herald runs the herald binary with args to its end, within a minute, in
// the children's environment, and returns its combined output.
func (e *env) herald(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.procs.bin, args...)
	cmd.Env = e.procs.env
	return cmd.CombinedOutput()
}

// bearer sets req's Authorization header to token, if any, and returns req.
func bearer(req *http.Request, token string) *http.Request {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// signUp signs a user up at the users service at base (POST /users) and in
// (POST /sessions), and returns the user's id and token.
func signUp(ctx context.Context, base, name, email, password string) (int64, string, error) {
	var user struct{ ID int64 }
	if err := postJSON(ctx, base+"/users", "", map[string]string{"name": name, "email": email, "password": password}, &user); err != nil {
		return 0, "", fmt.Errorf("sign up: %w", err)
	}
	var s struct {
		Token  string
		UserID int64
	}
	if err := postJSON(ctx, base+"/sessions", "", map[string]string{"email": email, "password": password}, &s); err != nil {
		return 0, "", fmt.Errorf("sign in: %w", err)
	}
	if s.Token == "" || s.UserID != user.ID {
		return 0, "", fmt.Errorf("sign in: a token for user %d, want one for user %d", s.UserID, user.ID)
	}
	return user.ID, s.Token, nil
}

// postJSON posts body as JSON to url with token and decodes a 201 answer
// into out.
func postJSON(ctx context.Context, url, token string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(bearer(req, token))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, truncate(string(rb), 300))
	}
	return json.Unmarshal(rb, out)
}
