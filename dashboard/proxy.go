package dashboard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/heraldev/herald/httpapi"
)

const (
	proxyTimeout = 10 * time.Second
	maxProxyBody = 1 << 20
)

// Headers the proxy passes on, each way; every other header is dropped.
var (
	proxyRequestHeaders  = []string{"Authorization", "Content-Type", "Accept", "Herald-After", "Herald-Wait", "Traceparent"}
	proxyResponseHeaders = []string{"Content-Type", "Content-Length", "Herald-Token", "Herald-Event-Id", "Herald-Consistency", "Location", "Retry-After", "Www-Authenticate"}
)

// refused reports whether p, a cleaned path, is one of a service's
// operator routes, which the proxy never reaches: they need the operator
// token, and the dashboard must not lend its reach to a page without it.
func refused(p string) bool {
	switch p {
	case "/metrics", "/status", "/journey", "/debug", "/generation":
		return true
	}
	return strings.HasPrefix(p, "/debug/") || strings.HasPrefix(p, "/generation/")
}

// proxy serves /api/proxy/{service}/{path...} by passing the request to the
// catalogue's service at URL(service)+"/"+path, so the storefront pages
// call the services from the dashboard's own origin.
func (h *handler) proxy() http.Handler {
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: proxyTimeout}).DialContext,
		ResponseHeaderTimeout: proxyTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       time.Minute,
	}
	type targetKey struct{}
	rp := &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.Out.URL = target
			pr.Out.Host = target.Host
			pr.Out.Header = http.Header{}
			for _, k := range proxyRequestHeaders {
				if v := pr.In.Header.Values(k); len(v) > 0 {
					pr.Out.Header[k] = v
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			kept := http.Header{}
			for _, k := range proxyResponseHeaders {
				if v := resp.Header.Values(k); len(v) > 0 {
					kept[k] = v
				}
			}
			resp.Header = kept
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			httpapi.WriteProblem(w, http.StatusBadGateway, fmt.Sprintf("service %s did not answer: %v", r.PathValue("service"), err))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("service")
		if _, _, ok := h.o.Catalogue.Lookup(name); !ok {
			httpapi.WriteProblem(w, http.StatusNotFound, fmt.Sprintf("no service %q in the catalogue", name))
			return
		}
		p := path.Clean("/" + r.PathValue("path"))
		if refused(p) {
			httpapi.WriteProblem(w, http.StatusForbidden, p+" is an operator route; the dashboard does not proxy it (use herald status or herald trace)")
			return
		}
		base, err := url.Parse(h.o.URL(name))
		if err != nil || base.Host == "" {
			httpapi.WriteProblem(w, http.StatusBadGateway, fmt.Sprintf("service %s has no usable URL (%q)", name, h.o.URL(name)))
			return
		}
		target := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: strings.TrimSuffix(base.Path, "/") + p, RawQuery: r.URL.RawQuery}
		ctx, cancel := context.WithTimeout(r.Context(), proxyTimeout)
		defer cancel()
		r = r.WithContext(context.WithValue(ctx, targetKey{}, target))
		r.Body = http.MaxBytesReader(w, r.Body, maxProxyBody)
		rp.ServeHTTP(w, r)
	})
}
