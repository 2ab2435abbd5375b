package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/service"
)

// systemFlags find a running system: its bus, and its services' addresses
// (the defaults, unless --addr says otherwise, as for herald up and serve).
type systemFlags struct {
	operatorFlags
	Addr map[string]string `name:"addr" mapsep:";" placeholder:"SERVICE=HOST:PORT" env:"HERALD_ADDR" help:"Address of a service that does not listen on its default (repeat the flag, or separate with ';')."`
}

type traceCmd struct {
	systemFlags
	ID   string `arg:"" help:"An event id (a write's Herald-Event-Id) or a trace id (32 hex digits)."`
	JSON bool   `name:"json" env:"HERALD_TRACE_JSON" help:"Print the journey as JSON, for scripts."`
}

type statusCmd struct {
	systemFlags
	JSON bool `name:"json" env:"HERALD_STATUS_JSON" help:"Print every service's GET /status as one JSON array."`
}

// serviceURL returns the base URL of the catalogue's service s on f's
// addresses.
func (f systemFlags) serviceURL(s catalogue.Service) string {
	addr, _ := serviceFlags{Addr: f.Addr}.addr(s)
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	return "http://" + addr
}

// askService GETs path from the running service called name and decodes
// its JSON answer into v.
func (f systemFlags) askService(ctx context.Context, cat catalogue.Catalogue, name, path string, v any) error {
	var svc catalogue.Service
	found := false
	for _, a := range cat {
		if s, ok := a.Service(name); ok {
			svc, found = s, true
		}
	}
	if !found {
		return fmt.Errorf("no service %q in the catalogue", name)
	}
	return f.ask(ctx, name, f.serviceURL(svc)+path, v)
}

// ask GETs url from the service called name, with the operator token, and
// decodes its JSON answer into v.
func (f systemFlags) ask(ctx context.Context, name, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	tok, err := f.token()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("ask %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ask %s: %s: %s", name, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("ask %s: %w", name, err)
	}
	return nil
}

// Trace prints the journey of the event or trace c.ID names.
func (m *Main) Trace(ctx context.Context, c traceCmd) error {
	b, nc, err := c.dial("herald trace", m.Log)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cat := apps(serviceFlags{})
	j, err := journey.Of(ctx, journey.Sources{
		Bus: b, Catalogue: cat,
		Service: func(ctx context.Context, name string, q url.Values) (service.Journey, error) {
			var p service.Journey
			return p, c.askService(ctx, cat, name, "/journey?"+q.Encode(), &p)
		},
	}, c.ID)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(m.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	}
	return journey.Write(m.Out, j)
}

// Status prints every service's GET /status as one table.
func (m *Main) Status(ctx context.Context, c statusCmd) error {
	if _, err := c.token(); err != nil {
		return err // every service would answer 401: say why once
	}
	cat := apps(serviceFlags{})
	var all []statusAnswer
	up := 0
	for _, a := range cat {
		for _, s := range a.Services {
			var st service.Status
			if err := c.askService(ctx, cat, s.Name, "/status", &st); err != nil {
				all = append(all, statusAnswer{Service: s.Name, Error: err.Error()})
				continue
			}
			up++
			all = append(all, statusAnswer{Service: s.Name, Status: &st})
		}
	}
	if c.JSON {
		enc := json.NewEncoder(m.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(m.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SERVICE\tSTATE\tCONSUMER / RELAY\tAPPLIED TO\tLAST APPLIED\tPENDING\tIN FLIGHT\tREDELIVERED\tDLQ\tLAG")
		for _, a := range all {
			if a.Status == nil {
				fmt.Fprintf(w, "%s\tdown\t\t\t\t\t\t\t\t\n", a.Service)
				continue
			}
			st := a.Status
			state := "ready"
			if !st.Ready {
				state = "not ready"
			}
			name := a.Service
			if len(st.Consumers) == 0 && st.Relay == nil {
				fmt.Fprintf(w, "%s\t%s\t\t\t\t\t\t\t\t\n", name, state)
			}
			for _, cs := range st.Consumers {
				if cs.Error != "" {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t\t\t\t\t\t\n", name, state, cs.Name, firstLine(cs.Error, 60))
				} else {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s #%d\t%s\t%d\t%d\t%d\t%d\t%s\n", name, state, cs.Name, cs.Stream, cs.AckFloor,
						ago(cs.AckFloorTime), cs.Pending, cs.AckPending, cs.Redelivered, cs.DeadLettered, seconds(cs.LagSeconds))
				}
				name, state = "", ""
			}
			if r := st.Relay; r != nil {
				fmt.Fprintf(w, "%s\t%s\toutbox relay\t%d published\t\t%d\t\t\t\t%s\n", name, state, r.Published, r.Depth, seconds(r.OldestSeconds))
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		printFailing(m.Out, all)
	}
	if up == 0 {
		return errors.New("no service answered: is herald up (or herald serve) running? set --addr for services on other addresses")
	}
	return nil
}

// statusAnswer is one service's answer to GET /status, or why it gave
// none.
type statusAnswer struct {
	Service string          `json:"service"`
	Status  *service.Status `json:"status,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// printFailing prints, under the table, each consumer whose latest attempt
// at an event failed: what it retries, since when, and why.
func printFailing(out io.Writer, all []statusAnswer) {
	for _, a := range all {
		if a.Status == nil {
			continue
		}
		for _, cs := range a.Status.Consumers {
			if f := cs.Failing; f != nil {
				fmt.Fprintf(out, "%s: %s failing since %s: attempt %d of %d at %s #%d (event %s): %s\n",
					a.Service, cs.Name, ago(f.Since), f.Attempt, f.MaxDeliver, cs.Stream, f.Sequence, f.Event, firstLine(f.Error, 200))
			}
		}
	}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return age(t) + " ago"
}

func seconds(s float64) string {
	if s == 0 {
		return "0s"
	}
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}
