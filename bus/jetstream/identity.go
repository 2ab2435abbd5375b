package jetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Identity is one NATS user of a Herald system and what it may do on the
// bus. Herald computes one per service from its catalogue (who owns which
// event, who runs which durable consumer), so adding an event or a consumer
// changes the permissions with it; see Permissions for the subjects each
// field grants.
type Identity struct {
	// Name is the identity's name: a service's ("orders") or AdminIdentity.
	// Its credential file is <name>.nk and its replies arrive under the
	// inbox prefix InboxPrefix(name), which no other identity may read.
	Name string
	// Admin may do anything: create and update streams, read every
	// stream, redrive and discard dead letters. Herald's own commands
	// (herald up's stream setup, herald dlq, trace, status) use it.
	Admin bool
	// Stream is the stream the identity's consumers read ("SHOP").
	Stream string
	// Publish are the subjects it may publish events on: those of the
	// event types it owns (and, for the gateway, its ingress pattern).
	Publish []string
	// DenyPublish are subjects within Publish it may still not publish on:
	// those of events other services own (the gateway's ingress pattern
	// covers them).
	DenyPublish []string
	// Durables are the durable consumers of Stream it may create, read,
	// reset and consume; it may dead-letter onto their DLQ subjects.
	Durables []string
	// AnyConsumer lets it create and consume consumers of any name on
	// Stream (the gateway: ordered readers of the history, and one durable
	// per push subscription, named at run time), except Others.
	AnyConsumer bool
	// Others are the durables of the other identities on Stream, which an
	// identity with AnyConsumer may still never touch.
	Others []string
	// ReadStream lets it read Stream's messages by position (the lag of
	// its consumers in seconds; the gateway's GET /events).
	ReadStream bool
}

// AdminIdentity is the name of the identity that creates streams.
const AdminIdentity = "admin"

// InboxPrefix returns the inbox prefix of the identity called name: the
// replies to its requests arrive on "<prefix>.>", a subject only it may
// subscribe to, so no other service can read its acks or its fetched events.
func InboxPrefix(name string) string { return "_INBOX_" + name }

// Permissions returns the NATS permissions of id: what it may publish
// (its events; the JetStream API calls of its own consumers; their acks
// and dead letters) and subscribe to (its own inbox). Everything else is
// refused by the server.
func (id Identity) Permissions() *server.Permissions {
	if id.Admin {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{">"}},
		}
	}
	s := id.Stream
	pub := []string{"$JS.API.INFO", "$JS.API.STREAM.INFO." + DLQStream}
	pub = append(pub, id.Publish...)
	if s != "" {
		pub = append(pub, "$JS.API.STREAM.INFO."+s)
	}
	deny := slices.Clone(id.DenyPublish)
	consumer := func(d string) []string {
		return []string{
			"$JS.API.CONSUMER.CREATE." + s + "." + d, "$JS.API.CONSUMER.CREATE." + s + "." + d + ".>",
			"$JS.API.CONSUMER.DURABLE.CREATE." + s + "." + d,
			"$JS.API.CONSUMER.INFO." + s + "." + d, "$JS.API.CONSUMER.DELETE." + s + "." + d,
			"$JS.API.CONSUMER.MSG.NEXT." + s + "." + d,
			"$JS.ACK." + s + "." + d + ".>",
			"dlq." + d,
		}
	}
	if id.AnyConsumer {
		pub = append(pub, consumer("*")...)
		for _, d := range id.Others {
			deny = append(deny, consumer(d)...)
		}
	} else {
		for _, d := range id.Durables {
			pub = append(pub, consumer(d)...)
		}
	}
	if id.ReadStream && s != "" {
		pub = append(pub, "$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>", "$JS.API.STREAM.MSG.GET."+s)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: dedupe(pub), Deny: dedupe(deny)},
		Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(id.Name) + ".>"}},
	}
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// AuthFile is the name of the nats-server configuration WriteAuth writes.
const AuthFile = "auth.conf"

var identityName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// WriteAuth makes dir hold one NKey user seed per identity, <name>.nk
// (mode 0600; a seed already there is kept, so credentials survive
// restarts and regenerations), and writes <dir>/auth.conf: the
// nats-server "authorization" block that lets each identity in with its
// permissions and nobody else in at all. It returns auth.conf's path. An
// operator's nats-server includes that file (`include ./auth.conf`); the
// embedded server loads it (ServerConfig.Auth).
func WriteAuth(dir string, ids []Identity) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("nats credentials: %w", err)
	}
	type perm struct {
		Allow []string `json:"allow,omitempty"`
		Deny  []string `json:"deny,omitempty"`
	}
	type user struct {
		Nkey        string `json:"nkey"`
		Permissions struct {
			Publish   perm `json:"publish"`
			Subscribe perm `json:"subscribe"`
		} `json:"permissions"`
	}
	var b strings.Builder
	b.WriteString("# Generated by Herald from its catalogue (herald nats-config): one NATS user\n")
	b.WriteString("# per service, each allowed to publish only the events it owns and to use\n")
	b.WriteString("# only its own durable consumers; the admin user creates the streams.\n")
	b.WriteString("# Regenerate after adding an event or a consumer; the seeds (<name>.nk) are kept.\n")
	b.WriteString("authorization {\n  users = [\n")
	seen := map[string]bool{}
	for _, id := range ids {
		if !identityName.MatchString(id.Name) || seen[id.Name] {
			return "", fmt.Errorf("nats credentials: bad or repeated identity name %q", id.Name)
		}
		seen[id.Name] = true
		pub, err := ensureSeed(filepath.Join(dir, id.Name+".nk"))
		if err != nil {
			return "", err
		}
		p := id.Permissions()
		var u user
		u.Nkey = pub
		u.Permissions.Publish = perm{p.Publish.Allow, p.Publish.Deny}
		u.Permissions.Subscribe = perm{p.Subscribe.Allow, p.Subscribe.Deny}
		// JSON is valid nats-server configuration, but for its \u
		// escapes: leave "<" and ">" as they are.
		var j strings.Builder
		enc := json.NewEncoder(&j)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(u); err != nil {
			return "", fmt.Errorf("nats credentials: %w", err)
		}
		fmt.Fprintf(&b, "    # %s\n    %s", id.Name, j.String())
	}
	b.WriteString("  ]\n}\n")
	path := filepath.Join(dir, AuthFile)
	if err := writeFileAtomic(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("nats credentials: %w", err)
	}
	return path, nil
}

// ensureSeed returns the public key of the user seed at path, creating the
// seed (mode 0600) if there is none.
func ensureSeed(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return "", fmt.Errorf("nats credentials: new key: %w", err)
		}
		seed, _ := kp.Seed()
		if err := writeFileAtomic(path, append(seed, '\n'), 0o600); err != nil {
			return "", fmt.Errorf("nats credentials: %w", err)
		}
		return kp.PublicKey()
	}
	if err != nil {
		return "", fmt.Errorf("nats credentials: %w", err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(raw))))
	if err != nil {
		return "", fmt.Errorf("nats credentials: %s is not an NKey seed: %w", path, err)
	}
	return kp.PublicKey()
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadAuth sets the users of opts from the nats-server configuration file
// path (an auth.conf from WriteAuth, or any file with an authorization
// block), read by nats-server's own parser.
func loadAuth(opts *server.Options, path string) error {
	parsed, err := server.ProcessConfigFile(path)
	if err != nil {
		return fmt.Errorf("start embedded nats: auth %s: %w", path, err)
	}
	if len(parsed.Nkeys) == 0 && len(parsed.Users) == 0 {
		return fmt.Errorf("start embedded nats: auth %s defines no users", path)
	}
	opts.Nkeys, opts.Users = parsed.Nkeys, parsed.Users
	return nil
}
