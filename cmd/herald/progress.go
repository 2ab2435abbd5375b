package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws how far a long job is: done of total, the rate and the
// time left. On a terminal it redraws one line at most five times a
// second; elsewhere (a log, a pipe) it writes a line every five seconds.
// It is not safe for concurrent use.
type progressBar struct {
	w     io.Writer
	tty   bool
	unit  string
	start time.Time
	last  time.Time
	drawn bool
	done  uint64
	total uint64
}

func newProgressBar(w io.Writer, unit string) *progressBar {
	p := &progressBar{w: w, unit: unit, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update records that done of total are done, and draws it when it is
// time to.
func (p *progressBar) update(done int64, total uint64) {
	p.done, p.total = uint64(max(done, 0)), total
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	p.draw()
}

// finish draws the last state and ends the line.
func (p *progressBar) finish() {
	if p.drawn || p.done > 0 {
		p.draw()
		if p.tty {
			fmt.Fprintln(p.w)
		}
	}
}

func (p *progressBar) draw() {
	p.drawn = true
	line := progressLine(p.done, p.total, time.Since(p.start), p.unit)
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// progressLine renders done of total after elapsed: a bar, the counts, the
// rate and the time left.
func progressLine(done, total uint64, elapsed time.Duration, unit string) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "?"
	switch {
	case done >= total:
		eta = "0s"
	case rate > 0:
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %3.0f%%  %d/%d %s  %.0f/s  ETA %s", bar, frac*100, done, total, unit, rate, eta)
}
