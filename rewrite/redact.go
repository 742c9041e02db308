package rewrite

import (
	"fmt"
	"net/url"
	"strings"
)

// A route URL's user information runs from "://" to the last "@" before
// the next white space (or the next "://", which starts another URL of a
// list written without spaces). The lexer reads it as part of the word, so
// ";", "," and "#" in a password neither end the route nor start a comment,
// and every function below hides the same span.

// userinfoEnd returns the offset of the "@" that ends the user information
// of a URL whose authority starts at s[i], just after its "://", or -1 when
// the URL has none.
func userinfoEnd(s string, i int) int {
	at := -1
	for j := i; j < len(s); j++ {
		switch c := s[j]; {
		case isSpace(c) || c == '\n':
			return at
		case c == '@':
			at = j
		case c == ':' && strings.HasPrefix(s[j:], "://"):
			return at
		}
	}
	return at
}

// redactRoute hides the password of a route URL: what follows the first ":"
// of its user information, up to the last "@". Names without "://" are
// returned unchanged. A URL without "@" that does not parse may be one cut
// short inside its password (by white space in rules, by a "," in a list
// split naively), so everything after its first ":" is hidden; one that
// parses is host:port and shown whole.
func redactRoute(name string) string {
	i := strings.Index(name, "://")
	if i < 0 {
		return name
	}
	rest := name[i+3:]
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		colon := strings.IndexByte(rest[:at], ':')
		if colon < 0 {
			return name // a user name without a password
		}
		return name[:i+3] + rest[:colon+1] + "xxxxx" + rest[at:]
	}
	if _, err := url.Parse(name); err == nil {
		return name
	}
	if colon := strings.IndexByte(rest, ':'); colon >= 0 {
		return name[:i+3] + rest[:colon+1] + "xxxxx"
	}
	return name
}

// redactWord hides what may be part of a password in a word of rule text
// an error quotes: a route URL's password, and in any other word but a
// regex, what comes before its last "@" (the end of a password cut short
// by white space, such as "ss@gw:1080" of "socks5://u:p ss@gw:1080").
func redactWord(s string) string {
	if strings.Contains(s, "://") {
		return redactRoute(s)
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 && !strings.HasPrefix(s, "~") {
		return "xxxxx" + s[at:]
	}
	return s
}

// quoteWord quotes a word of rule text for an error message, hiding what
// may be part of a password.
func quoteWord(s string) string { return fmt.Sprintf("%q", redactWord(s)) }

// splitRoutes splits a comma-separated route list as the rule language
// does, keeping white space: a "," in a URL's user information belongs to
// the URL.
func splitRoutes(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		case strings.HasPrefix(s[i:], "://"):
			if at := userinfoEnd(s, i+3); at >= 0 {
				i = at
			}
		}
	}
	return append(parts, s[start:])
}

// SplitRouteList splits a comma-separated list of routes, as written after
// "via" in a rule or given to kafkanat.Via, and trims white space around
// each. As in rules, a "," inside a route URL's user information (between
// "://" and the last "@" before the host) belongs to the URL's password and
// does not split it. An empty list yields one empty route.
func SplitRouteList(s string) []string {
	parts := splitRoutes(s)
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// RedactRouteList returns a comma-separated list of routes with the
// password of every route URL replaced by "xxxxx", as RouteRef.String does
// for one route, for messages about the list. It splits the list as
// SplitRouteList does and otherwise keeps it as written, white space
// included.
func RedactRouteList(s string) string {
	parts := splitRoutes(s)
	for i, p := range parts {
		name := strings.TrimSpace(p)
		parts[i] = strings.Replace(p, name, redactRoute(name), 1)
	}
	return strings.Join(parts, ",")
}
