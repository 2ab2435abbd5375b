package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// errRefused is wrapped by every error that refuses a push target.
var errRefused = errors.New("push target refused")

// allowlist says which addresses the gateway may push to (Config.Allow). It
// is checked when a subscription is created, on the addresses its host
// resolves to, and again at every dial on the address actually dialled, so a
// name that later resolves elsewhere (DNS rebinding) is still refused. It is
// immutable, so safe for concurrent use.
type allowlist struct {
	entries  []string
	any      bool
	loopback bool
	private  bool
	prefixes []netip.Prefix
	hosts    map[string]bool // lowercased host names, trusted whatever they resolve to
}

// parseAllow parses Config.Allow entries: "loopback" (127.0.0.0/8, ::1),
// "private" (RFC 1918, fc00::/7), "any", a CIDR, an IP or a host name.
func parseAllow(entries []string) (*allowlist, error) {
	a := &allowlist{entries: entries, hosts: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch strings.ToLower(e) {
		case "any":
			a.any = true
			continue
		case "loopback":
			a.loopback = true
			continue
		case "private":
			a.private = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
		} else if ip, err := netip.ParseAddr(e); err == nil {
			ip = ip.Unmap()
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		} else if isHostName(e) {
			a.hosts[strings.ToLower(strings.TrimSuffix(e, "."))] = true
		} else {
			return nil, fmt.Errorf("push allowlist entry %q is not loopback, private, any, a CIDR, an IP or a host name", e)
		}
	}
	return a, nil
}

func isHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func (a *allowlist) String() string { return strings.Join(a.entries, ",") }

// metadata are cloud instance-metadata addresses (AWS, GCP and Azure use
// 169.254.169.254, AWS's IPv6 one fd00:ec2::254, Alibaba 100.100.100.200).
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	broadcast   = netip.MustParseAddr("255.255.255.255")
)

// forbidden returns why ip may never be a push target, whatever the
// allowlist says, or "".
func forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	if nat64.Contains(ip) { // judge the IPv4 address a NAT64 one embeds
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "an unspecified address"
	case ip.IsMulticast() || ip == broadcast:
		return "a multicast or broadcast address"
	}
	for _, m := range metadata {
		if ip == m {
			return "a cloud metadata address"
		}
	}
	if ip.IsLinkLocalUnicast() {
		return "a link-local address"
	}
	return ""
}

// allows reports whether the allowlist itself lists ip.
func (a *allowlist) allows(ip netip.Addr) bool {
	ip = ip.Unmap()
	if a.any || a.loopback && ip.IsLoopback() || a.private && ip.IsPrivate() {
		return true
	}
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkIP returns nil if the gateway may push to ip: never a forbidden
// address, and otherwise one the allowlist lists or, if byName, any address
// (the host name it was resolved from is allowlisted).
func (a *allowlist) checkIP(ip netip.Addr, byName bool) error {
	ip = ip.Unmap()
	if why := forbidden(ip); why != "" {
		return fmt.Errorf("%w: %s is %s, which is never allowed", errRefused, ip, why)
	}
	if byName || a.allows(ip) {
		return nil
	}
	hint := ip.String()
	if ip.IsPrivate() {
		hint = "private"
	}
	return fmt.Errorf("%w: %s is not in the push allowlist (%s); to allow it, add %s to %s", errRefused, ip, a, hint, FlagAllow)
}

// checkTarget checks that u may be pushed to: an http or https URL whose host
// resolves only to allowed addresses. It wraps errRefused for a refused
// target; a host that cannot be resolved is an error that does not.
func (a *allowlist) checkTarget(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return a.checkIP(ip, false)
	}
	byName := a.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if err := a.checkIP(ip, byName); err != nil {
			return fmt.Errorf("%s resolves to %w", host, err)
		}
	}
	return nil
}

// dialContext returns a DialContext for the push client that refuses, on
// the address about to be connected, whatever checkIP refuses.
func (a *allowlist) dialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		_, isIP := netip.ParseAddr(host)
		byName := isIP != nil && a.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
		d := net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse the dialled address %q", errRefused, address)
			}
			return a.checkIP(ap.Addr(), byName)
		}}
		return d.DialContext(ctx, network, addr)
	}
}
