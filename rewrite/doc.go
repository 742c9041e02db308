// Package rewrite implements kafkanat's rule language: it parses rules that
// rewrite the address a Kafka client is about to dial and pick the route to
// dial it over, compiles them into an indexed Table, and matches addresses
// against that table. It knows nothing about dialing.
//
// # Rules
//
// Rules are separated by newlines or ";". "#" starts a comment that runs to
// the end of the line. A rule has one of three forms:
//
//	<pattern> => <target> [via <route>, ...]   rewrite, then dial over the routes
//	<pattern> via <route>, ...                 keep the address, choose the routes
//	<pattern> deny                             refuse the address
//
// Without "via", a rewrite uses the default route. Several routes are tried in
// order. A route is "direct", a route URL ("socks5://user:pass@gw:1080") or
// the name of a route the application registered; this package only checks
// that a URL parses and has a host. A route cannot hold white space, and
// outside a URL's password neither ",", ";" nor "#". The keywords "via" and
// "deny" are lower case. The first rule that matches an address wins, in
// written order, whatever its kind.
//
//	kafka:9092 => 109.109.109.109:9092                  # one broker behind a tunnel
//	node1:9092 => proxy:7092; node2:9092 => proxy:8092  # two rules on one line
//	*.abc.us-west1.example.com => 10.128.0.5            # keep the advertised port
//	kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
//	*.svc.cluster.local via socks5://gateway:1080
//	~b(\d+)\.abc\.example\.com:(?P<p>\d+) => lb-{1}.example.net:{p+1000}
//	*.corp.example deny
//
// A route URL's user information runs from "://" to the last "@" before
// the next white space or the next "://" (so "socks5://gw:1080,http://u:p@h:3128"
// is two routes). The rule language reads it whole: ";", "," and "@" in a
// password are part of it, and a "#" there is not taken for a comment but
// refused, like "/" and "?", which URL parsers take for the end of the user
// information: percent-encode them (%23, %2F, %3F), white space (%20), and
// an "@" after the host, as in an SSH key path (%40). The error for such a
// route does not show the password. After a URL, put a space before a
// comment or route name that holds "@".
//
// # Patterns
//
// A pattern matches "host:port"; host names are compared in lower case,
// IPv6 addresses in canonical form (RFC 5952) and ports as numbers.
//
//   - "host:port" matches that address exactly; "host" matches it on any port.
//     IPv6 literals are written in brackets: "[::1]:9092", "[fd00::1]".
//   - "*.example.com" matches hosts ending in ".example.com" with one or more
//     labels before it (not "example.com" itself), on any port;
//     "*.example.com:9093" only on port 9093.
//   - "{name}" is a placeholder: it matches one or more characters other
//     than "." and ":" inside a label or the port, as in
//     "b{id}.abc.example.com:{p}". Names are [A-Za-z_][A-Za-z0-9_]*; a name
//     appears once per pattern; two placeholders need literal text between
//     them, and when a label holds several, each but the last takes as few
//     characters as it can. "{port}" may only be the whole port, where it
//     means any port. "*." may start a pattern with placeholders, and "*"
//     may stand for any host before ":port" ("*:9092").
//   - "*" alone matches every address.
//   - "~regex" is a Go (RE2) regular expression that must match the whole
//     normalized "host:port" (it is anchored as ^(?:regex)$). Because hosts
//     are lower-cased first, a case-sensitive literal with upper-case letters
//     is rejected; use lower case or (?i). Its groups are available to the
//     target as {1}, {2}, ... and named groups (?P<name>...) as {name}.
//
// A regex pattern runs from "~" to the next space, tab or line end: ";",
// "#", "," and "=>" inside it are part of the regex and need no escaping, so
// always put a space between a regex and what follows it. To match a space,
// write \x20 or \s. Everywhere else "#" starts a comment even without a space
// before it, and "=>" and "," need no spaces around them.
//
// # Targets
//
// A target is "host:port", or "host" alone, which keeps the advertised port
// ("[fd00::1]" as well). It may use, anywhere in its host or port:
//
//   - {name}: the text a placeholder or named regex group matched;
//   - {1}: the text regex group 1 matched ({0} is the whole address);
//   - {port}: the advertised port, always defined;
//   - integer arithmetic: a sum of placeholder names and decimal integers
//     joined by "+" and "-", such as {31090+n}, {port+1000}, {n-1} or
//     {base + n - 1}; spaces inside the braces are ignored. Every name must
//     hold an integer when the rule matches; to compute with a regex group,
//     name it.
//
// A target may only use what its pattern defines; Compile (and Parse) check
// it. A computed port must be in 1..65535 and a computed host a valid host
// name of ASCII letters, digits, "-", "_" and "." (or an IPv6 address in
// brackets); otherwise Table.Match returns an error naming the rule. Literal
// hosts and ports are checked at compile time.
//
// # Errors and performance
//
// Parse reports every error, syntactic or not, as a *SyntaxError with the
// line and column (in bytes) of the offending token, for example
// `rules line 3, column 12: undefined placeholder {x}; ...` (package
// kafkanat reports it with "kafkanat: " in front).
// Route passwords never appear in errors, Rule.String or RouteRef.String,
// which print `socks5://user:xxxxx@gw:1080` (all after the first ":" of
// the user information, up to the last "@", is hidden) and otherwise parse
// back to the same rule. A route URL without "@" that does not parse may be
// cut short inside its password, so all after its first ":" is hidden.
//
// Parse compiles each rule as it checks it and keeps the result in the Rule,
// so Compile of parsed rules only builds the table's indexes: a rule, and
// its regex, is compiled once. Exact, host-only and wildcard rules are kept
// in maps, so a 100k-rule table answers such an address as fast as a
// 10-rule one, without allocating when the target is constant. Placeholder,
// regex and "*" rules are tried one by one, but only those written before
// the best map hit.
package rewrite
