package dashboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// The load stream of the paging tests, LOAD: LoadEvents CloudEvents of a
// common type, with a rare type at every rareEvery-th position; position i
// has entity "item-<i>". A million without the race detector; under it, the
// embedded NATS server it runs in-process stores a tenth as fast, and the
// race detector is about goroutines, not sizes, so it gets 100,000 (CI runs
// the million without -race: .ci/run).
var LoadEvents = func() int {
	if raceDetector {
		return 100_000
	}
	return 1_000_000
}()

const (
	rareEvery  = 10_000
	commonType = "load.item.added.v1"
	rareType   = "load.item.rare.v1"
	// LoadStream is the load stream's name.
	LoadStream = "LOAD"
)

// load is the load stream, built once per test binary (it takes seconds)
// in a folder TestMain removes.
var load struct {
	once sync.Once
	dir  string
	srv  *jetstream.Server
	took time.Duration
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if load.srv != nil {
		load.srv.Shutdown()
	}
	if load.dir != "" {
		os.RemoveAll(load.dir)
	}
	os.Exit(code)
}

// loadServer returns the NATS server holding the load stream, building it
// on the first call.
func loadServer(t testing.TB) *jetstream.Server {
	t.Helper()
	load.once.Do(func() { load.err = buildLoad() })
	if load.err != nil {
		t.Fatalf("build the load stream: %v", load.err)
	}
	return load.srv
}

func buildLoad() error {
	dir, err := os.MkdirTemp("", "herald-dashboard-load-")
	if err != nil {
		return err
	}
	load.dir = dir
	// A server that does not fsync every write: the tests are about reading.
	if load.srv, err = jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(dir, "nats"), NoSync: true}); err != nil {
		return err
	}
	nc, err := load.srv.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	b, err := jetstream.New(nc, jetstream.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := b.EnsureStream(ctx, LoadStream, "load.>"); err != nil {
		return err
	}
	start := time.Now()
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	// Asynchronous publishes, a window of acknowledgements outstanding: a
	// million take seconds, not minutes. (Core NATS publishes are faster
	// still, but the server drops what its stream cannot take in time.)
	js, err := natsjs.New(nc, natsjs.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	for i := 1; i <= LoadEvents; i++ {
		typ := commonType
		if i%rareEvery == 0 {
			typ = rareType
		}
		n := strconv.Itoa(i)
		buf := make([]byte, 0, 320) // the publish keeps it until acknowledged
		buf = append(buf, `{"specversion":"1.0","id":"load-`...)
		buf = append(buf, n...)
		buf = append(buf, `","source":"/load","type":"`...)
		buf = append(buf, typ...)
		buf = append(buf, `","subject":"item-`...)
		buf = append(buf, n...)
		buf = append(buf, `","time":"`...)
		buf = append(buf, stamp...)
		buf = append(buf, `","datacontenttype":"application/json","data":{"n":`...)
		buf = append(buf, n...)
		buf = append(buf, `},"entityversion":1}`...)
		// A full window waits for acknowledgements; under -race on a busy
		// machine that can take longer than the default 200 ms stall.
		if _, err := js.PublishAsync(event.Subject(typ), buf, natsjs.WithStallWait(time.Minute)); err != nil {
			return fmt.Errorf("publish event %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("acknowledgements of the load stream: %w", ctx.Err())
	}
	for {
		last, err := b.LastSeq(ctx, LoadStream)
		if err == nil && last == uint64(LoadEvents) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stream at %d of %d: %w", last, LoadEvents, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond) // polling the stream's state, bounded by ctx
	}
	load.took = time.Since(start)
	return nil
}

// LoadedOptions returns the Options of a dashboard of one app, "load",
// whose stream is the load stream, over a connection of its own, and a
// function that returns how many messages that connection has received:
// what the dashboard read from the bus.
func LoadedOptions(t testing.TB) (Options, func() uint64) {
	t.Helper()
	srv := loadServer(t)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b, err := jetstream.New(nc, jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load stream: %d events (published in %s)", LoadEvents, load.took.Round(time.Millisecond))
	return Options{
		Catalogue: catalogue.Catalogue{{Name: "load", Stream: LoadStream, Subjects: "load.>"}},
		Bus:       b,
		Ask:       func(context.Context, string, string, any) error { return fmt.Errorf("no services") },
		URL:       func(string) string { return "" },
	}, func() uint64 { return nc.Stats().InMsgs }
}
