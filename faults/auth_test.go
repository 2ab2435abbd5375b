//go:build faults || cluster

package faults

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
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	hjs "github.com/heraldev/herald/bus/jetstream"
)

// Every deployment a test runs is secured as in production (issue 16):
// the bus refuses anonymous clients and lets each service publish only its
// own events, and every service verifies tokens with one shared set of keys.
//
//   - Token keys: `herald keys --dir <dir>/keys` once per test, before any
//     service starts; every service gets --auth-keys, users also
//     --auth-signing-key, and the test acts as the operator with the
//     admin.token beside them.
//   - NATS identities: one `herald bus` (or herald up) writes them into its
//     own data dir, <dir>/secrets/nats; a cluster's nodes all use the one
//     auth.conf of `herald nats-config --dir <dir>/nats --query-replicas
//     ...`, whose seeds are the services' credentials. The test connects as
//     the admin.

// keysDir is where a test's token keys are: signing.pem, jwks.json and
// admin.token.
func (c *cluster) keysDir() string { return filepath.Join(c.dir, "keys") }

// makeKeys runs `herald keys` into keysDir and keeps the operator token.
func (c *cluster) makeKeys() {
	c.t.Helper()
	out, err := runHerald(30*time.Second, "keys", "--dir", c.keysDir())
	if err != nil {
		c.t.Fatalf("herald keys: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(c.keysDir(), "admin.token"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.adminToken = strings.TrimSpace(string(b))
	if c.adminToken == "" {
		c.t.Fatalf("herald keys wrote an empty admin.token in %s", c.keysDir())
	}
}

// adminTokenFile is the operator token's file, for herald trace and status.
func (c *cluster) adminTokenFile() string { return filepath.Join(c.keysDir(), "admin.token") }

// clusteredBus reports whether the bus nodes share a generated auth.conf
// (a cluster of `herald bus` nodes, or any official nats-server) rather
// than one `herald bus` making its own.
func (c *cluster) clusteredBus() bool { return c.dep.BusNodes > 1 || c.dep.NATSServer != "" }

// natsConfigDir is where `herald nats-config` writes auth.conf and the
// identities' seeds for a clustered bus.
func (c *cluster) natsConfigDir() string { return filepath.Join(c.dir, "nats") }

// natsCreds is the directory of the NATS identities' seeds the services
// and the test connect with.
func (c *cluster) natsCreds() string {
	if c.clusteredBus() {
		return c.natsConfigDir()
	}
	return filepath.Join(c.dir, "secrets", "nats") // written by herald bus --data c.dir (or herald up)
}

// natsConfig runs `herald nats-config` for the bus nodes, naming the
// deployment's query replicas, and, for an official nats-server, writes
// the config file that includes its auth.conf.
func (c *cluster) natsConfig() {
	c.t.Helper()
	args := []string{"nats-config", "--dir", c.natsConfigDir()}
	if len(c.dep.Replicas) > 0 {
		args = append(args, "--query-replicas", strings.Join(c.dep.Replicas, ","))
	}
	out, err := runHerald(30*time.Second, args...)
	if err != nil {
		c.t.Fatalf("herald %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if c.dep.NATSServer != "" {
		conf := "# The users and permissions of herald nats-config; the rest is on the command line.\ninclude ./auth.conf\n"
		if err := os.WriteFile(c.natsServerConf(), []byte(conf), 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
}

// natsAuthFile is the auth.conf every node of a clustered bus uses.
func (c *cluster) natsAuthFile() string { return filepath.Join(c.natsConfigDir(), "auth.conf") }

// natsServerConf is the official nats-server's config file: auth.conf.
func (c *cluster) natsServerConf() string {
	return filepath.Join(c.natsConfigDir(), "nats-server.conf")
}

// natsOptions are the connection options of NATS identity name (a
// service's, or hjs.AdminIdentity) in the deployment's credentials.
func (c *cluster) natsOptions(name string) []nats.Option {
	c.t.Helper()
	creds, ok := hjs.InDir(c.natsCreds(), name)
	if !ok {
		c.t.Fatalf("no NATS credentials for %s in %s", name, c.natsCreds())
	}
	opts, err := creds.Options()
	if err != nil {
		c.t.Fatal(err)
	}
	return opts
}

// dialAs connects to the bus as NATS identity name; the connection is
// closed at the end of the test.
func (c *cluster) dialAs(name string) *hjs.Bus {
	c.t.Helper()
	b, nc, err := hjs.Dial(c.natsURL(), "faults-test as "+name, hjs.Options{}, c.natsOptions(name)...)
	if err != nil {
		c.t.Fatalf("connect to the bus as %s: %v", name, err)
	}
	c.t.Cleanup(nc.Close)
	return b
}

// securityFlags are the flags of `herald serve service` (or, with
// service "up", of herald up) that give it its credentials and keys.
func (c *cluster) securityFlags(service string) []string {
	args := []string{"--auth-keys", filepath.Join(c.keysDir(), "jwks.json")}
	if service == "users" || service == "up" {
		args = append(args, "--auth-signing-key", filepath.Join(c.keysDir(), "signing.pem"))
	}
	if service != "up" { // herald up connects its services to its own embedded bus
		args = append(args, "--nats-credentials", c.natsCreds())
	}
	// The load is many users' from one address: rate limits per client
	// would refuse it, where the build has them.
	for _, limit := range []string{"--write-rate", "--sign-in-rate"} {
		if helpHas(service, limit) {
			args = append(args, limit, "0")
		}
	}
	return args
}

// runHerald runs the faults build of herald with args to its end, within
// timeout, and returns its combined output.
func runHerald(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, heraldBin, args...)
	cmd.Env = cleanEnv()
	return cmd.CombinedOutput()
}

// helps caches `herald <command> --help` by command.
var helps sync.Map

// helpHas reports whether `herald serve --help` (for a service) or
// `herald up --help` (for "up") lists flag: for flags that not every build
// has yet.
func helpHas(service, flag string) bool {
	cmd := "serve"
	if service == "up" {
		cmd = "up"
	}
	text, found := helps.Load(cmd)
	if !found {
		out, _ := runHerald(30*time.Second, cmd, "--help")
		text, _ = helps.LoadOrStore(cmd, string(out))
	}
	return strings.Contains(text.(string), flag+"=") || strings.Contains(text.(string), flag+" ")
}

// session is a signed-in user: the token of POST /sessions.
type session struct {
	UserID int64
	Token  string
}

// signIn signs in at the users service at base (POST /sessions) and returns
// the user's token, or why not.
func signIn(client *http.Client, base, email, password string) (session, error) {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, _ := http.NewRequest(http.MethodPost, base+"/sessions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return session{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return session{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return session{}, fmt.Errorf("POST /sessions answered %d: %s", resp.StatusCode, body)
	}
	var s struct {
		Token, TokenType string
		UserID           int64
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return session{}, fmt.Errorf("POST /sessions: %w", err)
	}
	if s.Token == "" || s.TokenType != "Bearer" || s.UserID == 0 {
		return session{}, fmt.Errorf("POST /sessions answered %s", body)
	}
	return session{UserID: s.UserID, Token: s.Token}, nil
}

// withToken sets req's Authorization header to token, if any.
func withToken(req *http.Request, token string) *http.Request {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// passwordOf is the password of the user the load signs up with email tag.
func passwordOf(tag string) string { return "correct horse " + tag }

// checkSignIns logs how the load's users signed in and fails the test if
// it signed users up but none of them in: then no write of the test
// carried a user's own token.
func (l *load) checkSignIns(t *testing.T) {
	t.Helper()
	signedUp := 0
	for _, w := range l.all() {
		if w.Kind == opUser && w.Outcome == ok {
			signedUp++
		}
	}
	in, failed, asUser := l.signIns.Load(), l.signInErrors.Load(), l.asUser.Load()
	l.mu.Lock()
	first := l.signInErr
	l.mu.Unlock()
	why := ""
	if first != nil {
		why = fmt.Sprintf(", the first: %v", first)
	}
	t.Logf("load: %d users signed up, %d signed in (POST /sessions; %d sign-ins failed%s); %d orders and cancellations sent with the user's own token",
		signedUp, in, failed, why, asUser)
	if signedUp > 0 && in == 0 {
		t.Errorf("the load signed up %d users but could sign none of them in (%d sign-ins failed)", signedUp, failed)
	}
}
