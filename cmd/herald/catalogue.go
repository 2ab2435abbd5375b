package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// catalogueCmd prints what the system is made of.
type catalogueCmd struct {
	App      string `arg:"" optional:"" help:"The app to describe (${apps}); default: every app."`
	JSON     bool   `name:"json" env:"HERALD_CATALOGUE_JSON" help:"Print the catalogue as JSON."`
	AsyncAPI bool   `name:"asyncapi" env:"HERALD_CATALOGUE_ASYNCAPI" help:"Print the app's AsyncAPI 3.0 document (needs the app named)."`
}

// Catalogue prints the catalogue: per app, its services and every event
// type with its version, owner, subject, publishers and consumers; as JSON
// with c.JSON; or an app's AsyncAPI document with c.AsyncAPI.
func (m *Main) Catalogue(c catalogueCmd) error {
	all := apps(serviceFlags{})
	if err := all.Check(); err != nil {
		return fmt.Errorf("the catalogue is inconsistent: %w", err)
	}
	if c.App != "" {
		a, ok := all.App(c.App)
		if !ok {
			return fmt.Errorf("unknown app %q (want one of %s)", c.App, strings.Join(appNames(all), ", "))
		}
		all = catalogue.Catalogue{a}
	}
	switch {
	case c.AsyncAPI && c.JSON:
		return fmt.Errorf("--asyncapi and --json are two different documents; choose one")
	case c.AsyncAPI:
		if len(all) != 1 {
			return fmt.Errorf("an AsyncAPI document describes one app: herald catalogue <app> --asyncapi, with app one of %s", strings.Join(appNames(all), ", "))
		}
		doc, err := catalogue.AsyncAPI(all[0], "")
		if err != nil {
			return err
		}
		_, err = m.Out.Write(doc)
		return err
	case c.JSON:
		enc := json.NewEncoder(m.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(all.Describe())
	}
	return writeCatalogue(m.Out, all.Describe())
}

func appNames(c catalogue.Catalogue) []string {
	var names []string
	for _, a := range c {
		names = append(names, a.Name)
	}
	return names
}

// writeCatalogue prints d as tables, an app at a time.
func writeCatalogue(out io.Writer, d catalogue.Description) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i, a := range d.Apps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: stream %s (%s)\n", a.Name, a.Stream, a.Subjects)
		fmt.Fprintln(w, "  SERVICE\tADDRESS\tKIND\tCONSUMERS\tROUTES")
		for _, s := range a.Services {
			var cons, routes []string
			for _, c := range s.Consumers {
				cons = append(cons, c.Name)
			}
			for _, r := range s.Routes {
				routes = append(routes, r.Method+" "+r.Path)
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", s.Name, s.Addr, s.Kind, dash(strings.Join(cons, ", ")), dash(strings.Join(routes, ", ")))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  EVENT\tVERSION\tSUBJECT\tOWNER\tPUBLISHED BY\tCONSUMED BY (SERVICE (DURABLE CONSUMER))")
		for _, e := range a.Events {
			version := strconv.Itoa(e.Version)
			if e.ReadAs != "" {
				version += ", read as " + strconv.Itoa(event.Version(e.ReadAs))
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.Type, version, e.Subject, e.Owner, strings.Join(e.Publisher, ", "), dash(consumers(e.Consumers)))
		}
		for _, in := range a.Ingress {
			fmt.Fprintf(w, "  (any other type)\t-\t%s\t-\t%s (from outside)\t%s\n", in.Subject, in.Service, dash(consumers(in.Consumers)))
		}
	}
	return w.Flush()
}

func consumers(cs []catalogue.ConsumerInfo) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.String()
	}
	return strings.Join(names, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
