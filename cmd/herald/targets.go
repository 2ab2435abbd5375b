package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// apps returns Herald's catalogue: the shop and the blog, their services
// configured by f. Everything the binary runs or describes comes from it.
func apps(f serviceFlags) catalogue.Catalogue {
	return catalogue.Catalogue{
		shop.App(),
		blog.App(blog.Options{BannedWords: f.BannedWords, Gateway: gateway.Config{
			Push: f.Push, Secret: f.PushSecret, Allow: f.PushAllow,
			Timeout: f.PushTimeout, MaxDeliver: f.PushMaxDeliver, Backoff: f.PushBackoff,
			External: externalTypes(f.External), Tokens: gatewayTokens(f.GatewayToken),
		}}),
	}
}

// externalTypes expands names, each a service of the catalogue or an
// event type, into the event types they stand for (a service: those it
// owns). Check has made sure each name is one or the other.
func externalTypes(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	c := catalogue.Catalogue{shop.App(), blog.App(blog.Options{})} // the shape only: no flags, so no recursion
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if _, s, ok := c.Lookup(n); ok {
			for _, d := range s.Publishes {
				out = append(out, d.Type)
			}
			continue
		}
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// checkExternal refuses an --external entry that is neither a service
// nor an event type of the catalogue.
func checkExternal(c catalogue.Catalogue, names []string) error {
	for _, n := range names {
		n = strings.TrimSpace(n)
		if _, _, ok := c.Lookup(n); ok || n == "" {
			continue
		}
		found := false
		for _, a := range c {
			if _, ok := a.Owner(n); ok {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("--external (HERALD_EXTERNAL) %q is neither a service nor an event type of the catalogue", n)
		}
	}
	return nil
}

// gatewayTokens parses --gateway-token's TOKEN=TYPES entries.
func gatewayTokens(m map[string]string) map[string][]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string][]string{}
	for tok, types := range m {
		for _, t := range strings.Split(types, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out[tok] = append(out[tok], t)
			}
		}
	}
	return out
}

// withUnrun returns f with every blog service that targets do not run
// added to External: herald up runs the whole system, so a blog service
// it leaves out is one that runs outside Herald, whose events outside
// clients post to the gateway.
func withUnrun(f serviceFlags, targets []catalogue.Target) serviceFlags {
	c := apps(f)
	blog, ok := c.App("blog")
	if !ok {
		return f
	}
	gateway := false
	for _, t := range targets {
		gateway = gateway || t.Service.Name == "gateway"
	}
	if !gateway {
		return f
	}
	f.External = slices.Clone(f.External)
	for _, s := range blog.Services {
		run := slices.ContainsFunc(targets, func(t catalogue.Target) bool { return t.Service.Name == s.Name })
		if !run && s.Writes() && !slices.Contains(f.External, s.Name) {
			f.External = append(f.External, s.Name)
		}
	}
	return f
}

// plan resolves names (apps or services; none means every app) against the
// catalogue into the services to run, and checks, before anything starts,
// that the catalogue is consistent and that f fits those services (see
// checkTargets).
func plan(names []string, f serviceFlags) ([]catalogue.Target, error) {
	c := apps(f)
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("the catalogue is inconsistent: %w", err)
	}
	ts, err := c.Resolve(names)
	if err != nil {
		return nil, err
	}
	if err := checkExternal(c, f.External); err != nil {
		return nil, err
	}
	for tok, types := range gatewayTokens(f.GatewayToken) {
		if len(tok) < 16 || len(types) == 0 {
			return nil, errors.New("--gateway-token (HERALD_GATEWAY_TOKEN): each entry is TOKEN=TYPES with a token of at least 16 characters and at least one type (or *)")
		}
	}
	return ts, checkTargets(c, ts, f)
}

// checkTargets refuses flags that do not fit the services ts: --db names the
// database of exactly one write service (database per service: two write
// services never share one), and --replica needs a query service.
func checkTargets(c catalogue.Catalogue, ts []catalogue.Target, f serviceFlags) error {
	var writers, readers, allWriters, allReaders []string
	for _, a := range c {
		for _, s := range a.Services {
			if s.Writes() {
				allWriters = append(allWriters, s.Name)
			}
			if s.ReadModel {
				allReaders = append(allReaders, s.Name)
			}
		}
	}
	for _, t := range ts {
		if t.Service.Writes() {
			writers = append(writers, t.Service.Name)
		}
		if t.Service.ReadModel {
			readers = append(readers, t.Service.Name)
		}
	}
	if f.DB != "" && len(writers) != 1 {
		if len(writers) == 0 {
			return fmt.Errorf("--db (HERALD_DB) names the database of a write service (%s), and none is being run", orList(allWriters))
		}
		return fmt.Errorf("--db (HERALD_DB) names one database, but %s each need their own: run each write service as its own `herald serve <service> --db ...`",
			strings.Join(writers, ", "))
	}
	if f.Replica != "" && len(readers) == 0 {
		return fmt.Errorf("--replica (HERALD_REPLICA) names a query replica, and %s is being run", norList(allReaders))
	}
	return nil
}

func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func norList(names []string) string {
	switch len(names) {
	case 0:
		return "no query service"
	case 1:
		return names[0] + " is not"
	case 2:
		return "neither " + names[0] + " nor " + names[1]
	}
	return "none of " + strings.Join(names, ", ")
}

// config returns the settings of target t from f.
func (f serviceFlags) config(t catalogue.Target, log *slog.Logger, tr *observe.Tracing) service.Config {
	addr, flag := f.addr(t.Service)
	cfg := service.Config{
		DataDir: f.Data, DB: f.DB, Replica: f.Replica, Addr: addr, AddrFlag: flag, Logger: log,
		MaxDeliver: f.MaxDeliver, AckWait: f.AckWait, Pprof: f.Pprof, Tracing: tr, MaxWait: f.MaxWait, NoFsync: f.NoFsync,
		Limits: &service.Limits{LimitOptions: httpapi.LimitOptions{MaxBody: f.MaxBody}, WriteRate: f.WriteRate, SignInRate: f.SignInRate},
	}
	if !t.Service.Writes() {
		cfg.DB = "" // checked by checkTargets: --db names a write service's database
	}
	return cfg
}

// addr returns the listen address of s and the flags that set it, for
// error messages. The command line's --addr (or its alias
// --<service>-addr) comes first, then HERALD_ADDR, then
// HERALD_<SERVICE>_ADDR, then the catalogue's default.
func (f serviceFlags) addr(s catalogue.Service) (addr, flag string) {
	env := addrEnv(s.Name)
	flag = fmt.Sprintf("--addr %s=HOST:PORT (or --%s-addr, %s)", s.Name, s.Name, env)
	if a, ok := f.Addr[s.Name]; ok {
		return a, flag
	}
	for _, kv := range strings.Split(os.Getenv("HERALD_ADDR"), addrSep) {
		if name, a, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(name) == s.Name {
			return a, flag
		}
	}
	if a, ok := os.LookupEnv(env); ok {
		return a, flag
	}
	return s.Addr, flag
}

// addrSep separates --addr's entries in one value (kong's map separator).
const addrSep = ";"

// addrEnv is the environment variable of s's listen address:
// HERALD_<SERVICE>_ADDR.
func addrEnv(service string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_ADDR"
}

// addrAliases rewrites each --<service>-addr ADDR (or
// --<service>-addr=ADDR) in args into --addr <service>=ADDR, for every
// service of the catalogue: the per-service flags of earlier versions keep
// working without one flag declared per service.
func addrAliases(args []string, services []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		service, isAlias := strings.CutSuffix(name, "-addr")
		if !strings.HasPrefix(a, "--") || !isAlias || !slices.Contains(services, service) {
			out = append(out, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				out = append(out, a) // kong says the value is missing
				continue
			}
			i++
			value = args[i]
		}
		out = append(out, "--addr", service+"="+value)
	}
	return out
}
