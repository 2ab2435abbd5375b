package jetstream_test

import (
	"strings"
	"testing"

	"github.com/heraldev/herald/bus/jetstream"
)

func TestTwoServersCannotShareAStore(t *testing.T) {
	dir := t.TempDir()
	first, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if second, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir}); err == nil {
		second.Shutdown()
		first.Shutdown()
		t.Fatal("a second server started on a store in use")
	} else if !strings.Contains(err.Error(), "in use by another herald process") {
		t.Fatalf("error %q does not say the store is in use", err)
	}
	first.Shutdown()
	again, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatalf("the store stays locked after shutdown: %v", err)
	}
	again.Shutdown()
}
