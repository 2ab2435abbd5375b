package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress writes what the bench is doing to a terminal or a log: on a
// terminal one line redrawn every second, elsewhere a line every 10s and
// one when the step ends. It is safe for concurrent use.
type progress struct {
	w   io.Writer
	tty bool
	mu  sync.Mutex
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// Printf writes one line.
func (p *progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// track shows what runs, for how long so far and, if count is set, a
// running count of what it has done (in unit), until the returned stop is
// called; stop prints the final line.
func (p *progress) track(what string, count *atomic.Int64, unit string) (stop func()) {
	start := time.Now()
	line := func() string {
		s := fmt.Sprintf("  %-44s %6.1fs", what, time.Since(start).Seconds())
		if count != nil {
			s += fmt.Sprintf("  %s %s", thousands(float64(count.Load())), unit)
		}
		return s
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		every := 10 * time.Second
		if p.tty {
			every = time.Second
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				p.mu.Lock()
				if p.tty {
					fmt.Fprint(p.w, "\r\033[K"+line())
				} else {
					fmt.Fprintln(p.w, line())
				}
				p.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
			p.Printf("%s", line())
		})
	}
}
