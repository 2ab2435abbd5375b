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
