package dialer

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// noProxy matches targets against a NO_PROXY list.
type noProxy struct {
	all     bool
	entries []noProxyEntry
}

type noProxyEntry struct {
	zone   string       // a host name: matches it and its subdomains
	prefix netip.Prefix // an IP address (as a /32 or /128) or CIDR block
	port   string       // "" for any port
}

// parseNoProxy parses a NO_PROXY list; an empty list gives nil.
func parseNoProxy(list string) (*noProxy, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	np := &noProxy{}
	for i, raw := range strings.Split(list, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		if entry == "*" {
			np.all = true
			continue
		}
		e, err := parseNoProxyEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("NO_PROXY entry %d %q: %w", i+1, entry, err)
		}
		np.entries = append(np.entries, e)
	}
	return np, nil
}

func parseNoProxyEntry(entry string) (noProxyEntry, error) {
	var e noProxyEntry
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return e, fmt.Errorf("not a CIDR block: %v", err)
		}
		e.prefix = p.Masked()
		return e, nil
	}
	host := entry
	if h, port, err := net.SplitHostPort(entry); err == nil {
		host, e.port = h, port
	} else if strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]") {
		host = entry[1 : len(entry)-1]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		e.prefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		return e, nil
	}
	host = strings.TrimPrefix(strings.TrimPrefix(host, "*"), ".")
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || strings.ContainsAny(host, "*:/[] ") {
		return e, fmt.Errorf("want a host name, .zone, *.zone, an IP address or a CIDR block, optionally with :port")
	}
	e.zone = host
	return e, nil
}

// match reports whether target ("host:port") bypasses the default routes.
func (np *noProxy) match(target string) bool {
	if np.all {
		return true
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	ip, ipErr := netip.ParseAddr(host)
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, e := range np.entries {
		if e.port != "" && e.port != port {
			continue
		}
		if e.prefix.IsValid() {
			if ipErr == nil && e.prefix.Contains(ip.Unmap()) {
				return true
			}
			continue
		}
		if host == e.zone || strings.HasSuffix(host, "."+e.zone) {
			return true
		}
	}
	return false
}
