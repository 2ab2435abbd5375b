package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldev/herald/event"
)

// lagSample is the propagation lag of the orders of one round, split at
// the bus: Total runs from an event's creation in orders (its CloudEvents
// time) to the query service applying it (processed_at in the read
// model's processed_events, stamped in the transaction that applies it);
// ToBus ends when the stream stored it (the message's JetStream
// timestamp), ToView starts there. Last is when the last one was applied;
// Missing counts events the read model has not applied.
type lagSample struct {
	Total, ToBus, ToView []time.Duration
	Last                 time.Time
	Missing              int
}

// figures adds the sample's percentiles: lag_p50_ms and so on for the
// total, bus_lag_* to the bus and view_lag_* from it.
func (l lagSample) figures(f Figures) {
	latencyFigures(f, "lag_", l.Total)
	latencyFigures(f, "bus_lag_", l.ToBus)
	latencyFigures(f, "view_lag_", l.ToView)
}

// viewLags measures the propagation lag of every shop.order.created event
// stored in stream SHOP after sequence from, into the read model at
// queryDB.
func viewLags(ctx context.Context, c *natsConn, from uint64, queryDB string) (lagSample, error) {
	var l lagSample
	msgs, err := c.bus.Read(ctx, event.ShopStream, []string{event.Subject(event.OrderCreated)}, from+1, 0)
	if err != nil {
		return l, err
	}
	type times struct{ created, stored time.Time }
	ts := make(map[string]times, len(msgs))
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		e, err := event.Parse(m.Data)
		if err != nil {
			return l, fmt.Errorf("stored event %d: %w", m.Sequence, err)
		}
		ts[e.ID] = times{e.Time, m.Time}
		ids = append(ids, e.ID)
	}
	applied, err := processedAt(ctx, queryDB, ids)
	if err != nil {
		return l, err
	}
	for _, id := range ids {
		at, ok := applied[id]
		if !ok {
			l.Missing++
			continue
		}
		t := ts[id]
		l.Total = append(l.Total, at.Sub(t.created))
		l.ToBus = append(l.ToBus, t.stored.Sub(t.created))
		l.ToView = append(l.ToView, at.Sub(t.stored))
		if at.After(l.Last) {
			l.Last = at
		}
	}
	return l, nil
}

// processedAt reads when each of ids was applied to the SQLite database at
// path, opened read-only while its service runs.
func processedAt(ctx context.Context, path string, ids []string) (map[string]time.Time, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	out := make(map[string]time.Time, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.QueryContext(ctx, `SELECT event_id, processed_at FROM processed_events WHERE event_id IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		for rows.Next() {
			var id, at string
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			t, err := parseProcessedAt(at)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: event %s: %w", path, id, err)
			}
			out[id] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return out, nil
}

// parseProcessedAt parses processed_at as Herald writes it: an RFC 3339
// UTC time written by Go (to the microsecond or finer), or SQLite's
// strftime('%Y-%m-%dT%H:%M:%fZ') (to the millisecond), or SQLite's
// datetime form "2006-01-02 15:04:05.000".
func parseProcessedAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("processed_at %q is not a time Herald writes", s)
}
