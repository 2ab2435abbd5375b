package main

import (
	"strings"
	"testing"
)

// TestDBAndReplicaFlagsMustFitTheServicesRun: --db is one write service's
// database, so it is refused with several write services or none; --replica
// needs a query service. Each refusal says what to do instead.
func TestDBAndReplicaFlagsMustFitTheServicesRun(t *testing.T) {
	pg := "postgres://herald@127.0.0.1/herald_orders"
	for _, tc := range []struct {
		names   []string
		db      string
		replica string
		wantErr string // "" for none
	}{
		{names: []string{"orders"}, db: pg},
		{names: []string{"orders", "query"}, db: pg},                   // query keeps its own SQLite file
		{names: []string{"comments", "gateway", "blog-query"}, db: pg}, // so does the gateway
		{names: []string{"query"}, replica: "r1"},
		{names: []string{"shop"}, replica: "r1"},
		{names: []string{"users", "products"}, db: pg, wantErr: "users, products each need their own"},
		{names: []string{"shop"}, db: pg, wantErr: "herald serve <service> --db"},
		{names: []string{"query"}, db: pg, wantErr: "none is being run"},
		{names: []string{"users"}, replica: "r1", wantErr: "neither query nor blog-query"},
	} {
		_, err := plan(tc.names, serviceFlags{DB: tc.db, Replica: tc.replica})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v --db %q --replica %q: %v, want no error", tc.names, tc.db, tc.replica, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v --db %q --replica %q: %v, want an error containing %q", tc.names, tc.db, tc.replica, err, tc.wantErr)
		}
	}
}

// TestAddressFlagsOfEarlierVersionsStillWork: --<service>-addr, in either
// form, becomes --addr <service>=...; anything else is left alone.
func TestAddressFlagsOfEarlierVersionsStillWork(t *testing.T) {
	services := apps(serviceFlags{}).Names()
	in := []string{"up", "--users-addr", ":1", "--blog-query-addr=:2", "--addr", "query=:3", "--nope-addr", ":4", "--", "--orders-addr", ":5"}
	want := []string{"up", "--addr", "users=:1", "--addr", "blog-query=:2", "--addr", "query=:3", "--nope-addr", ":4", "--", "--orders-addr", ":5"}
	if got := addrAliases(in, services); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("addrAliases(%v) = %v, want %v", in, got, want)
	}
	var c cli
	p := mustParser(t, &c)
	if _, err := p.Parse(addrAliases([]string{"up", "--orders-addr", "127.0.0.1:7", "--addr", "query=127.0.0.1:8"}, services)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HERALD_USERS_ADDR", "127.0.0.1:9")
	for name, want := range map[string]string{"orders": "127.0.0.1:7", "query": "127.0.0.1:8", "users": "127.0.0.1:9", "posts": "127.0.0.1:4000"} {
		_, s, _ := apps(serviceFlags{}).Lookup(name)
		if got, flag := c.Up.addr(s); got != want || !strings.Contains(flag, "--"+name+"-addr") || !strings.Contains(flag, addrEnv(name)) {
			t.Errorf("%s: address %q (flag %q), want %q and a hint naming --%s-addr and %s", name, got, flag, want, name, addrEnv(name))
		}
	}
}
