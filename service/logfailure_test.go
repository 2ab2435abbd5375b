package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/heraldev/herald/bus"
)

// TestFailuresAreLoggedAtGrowingIntervals: of a consumer's 15 attempts at
// one event, attempts 1, 2, 4 and 8 are warnings and the last an error;
// the others are debug lines, so a subscriber down for its whole backoff
// does not fill the log.
func TestFailuresAreLoggedAtGrowingIntervals(t *testing.T) {
	var buf bytes.Buffer
	s := New("gateway", slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c := bus.Consumer{Name: "blog-push-1", MaxDeliver: 15}
	var warned []int
	for attempt := 1; attempt <= 15; attempt++ {
		buf.Reset()
		s.logFailure(context.Background(), c, bus.Message{Attempt: attempt, Subject: "blog.event.PostCreated"}, errors.New("connection refused"))
		if strings.Contains(buf.String(), "level=WARN") || strings.Contains(buf.String(), "level=ERROR") {
			warned = append(warned, attempt)
		}
	}
	if want := []int{1, 2, 4, 8, 15}; !slices.Equal(warned, want) {
		t.Fatalf("attempts logged at warn or error: %v, want %v", warned, want)
	}
}
