package rewrite

import (
	"fmt"
	"strings"
)

// Rule is one parsed rule. Rules are immutable after Compile: a Table hands
// out pointers into its own copy, which callers must not modify.
//
// A Rule from Parse or ParseMap also holds its compiled form, which Compile
// reuses instead of compiling the rule again. Copies share it; a copy whose
// Pattern, Target, Routes or Deny is changed is compiled again by Compile.
// Because of it, reflect.DeepEqual tells a parsed Rule from the same Rule
// built by hand: compare String and the exported fields instead. The rules
// of a Table (Table.Rules, Match.Rule) do not hold it.
type Rule struct {
	// Index is the rule's 1-based position in the compiled table. Compile
	// sets it; Parse and ParseMap leave it 0.
	Index int
	// Source names where the rule came from, such as "rules" or
	// `Map("a:1", "b:2")`; errors about the rule start with it.
	Source string
	// Line and Col locate the rule's first character (the first character of
	// its pattern) within its source text. Both are 1-based and Col counts
	// bytes. Both are 0 for a rule from ParseMap, whose source is the call
	// itself rather than a text with lines.
	Line, Col int
	// Pattern is the pattern as written, such as "b{id}.x.com:{p}".
	Pattern string
	// Target is the target as written, or "" when the rule has no "=>".
	Target string
	// Routes lists the routes of "via a, b" in order; empty means the
	// default route.
	Routes []RouteRef
	// Deny reports a "deny" rule: a matching address is refused.
	Deny bool

	c *compiled // what Parse made of the fields above, or nil
}

// RouteRef names one route of a rule's "via" list.
type RouteRef struct {
	// Name is the route as written: "direct", a route URL such as
	// "socks5://user:pass@gw:1080", or the name of a route the application
	// registered. It may hold a password: print it with String.
	Name string
	// Line and Col locate the name in the rule's source text (1-based).
	Line, Col int
}

// String returns the route name with any URL password replaced by "xxxxx":
// "socks5://user:xxxxx@gw:1080". The password is what follows the first ":"
// after "://", up to the last "@" (see the package documentation).
func (r RouteRef) String() string { return redactRoute(r.Name) }

// String returns the rule in canonical form, for example
// `b{id}.x.com:{p} => 10.0.0.5:{p} via socks5://u:xxxxx@gw:1080`.
// Pattern and target appear as written; passwords in route URLs are
// redacted (and in a pattern or target that holds a URL by mistake).
// The text parses back to an equivalent rule (with the redacted password).
func (r *Rule) String() string {
	if r == nil {
		return "<nil>"
	}
	var b strings.Builder
	if strings.HasPrefix(r.Pattern, "~") {
		b.WriteString(r.Pattern)
	} else {
		// A valid pattern or target holds no URL and no "@": this hides
		// only what a rule built by hand put there by mistake.
		b.WriteString(redactWord(r.Pattern))
	}
	if r.Target != "" {
		b.WriteString(" => ")
		b.WriteString(redactWord(r.Target))
	}
	for i, rt := range r.Routes {
		if i == 0 {
			b.WriteString(" via ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(rt.String())
	}
	if r.Deny {
		b.WriteString(" deny")
	}
	return b.String()
}

// where names the rule's origin for messages: "rules line 3, column 1" or
// `Map("a", "b")`.
func (r *Rule) where() string {
	if w := (&SyntaxError{Source: r.Source, Line: r.Line, Col: r.Col}).where(); w != "" {
		return w
	}
	return "no source"
}

// SyntaxError reports a rule that cannot be parsed or compiled.
type SyntaxError struct {
	// Source is the Source of the text or rule at fault ("rules",
	// `Map("a", "b")`, ...).
	Source string
	// Line and Col locate the offending token (1-based; Col counts bytes).
	// Both are 0 when the source has no lines (a Map call).
	Line, Col int
	// Msg says what is wrong.
	Msg string
}

// Error returns `rules line 3, column 12: <msg>`, or `Map("a", "b"):
// <msg>` when the error has no position. The package kafkanat and its
// Dialer put "kafkanat: " in front when they report it.
func (e *SyntaxError) Error() string {
	if w := e.where(); w != "" {
		return w + ": " + e.Msg
	}
	return e.Msg
}

// where formats the error's place: "rules line 3, column 12", "line 3,
// column 12" without a source, the source alone without a line, or "".
func (e *SyntaxError) where() string {
	switch {
	case e.Line == 0:
		return e.Source
	case e.Source == "":
		return fmt.Sprintf("line %d, column %d", e.Line, e.Col)
	}
	return fmt.Sprintf("%s line %d, column %d", e.Source, e.Line, e.Col)
}

// errorAt is the one routine that places a problem in rule text: the
// problem is off bytes into the word that starts at line and col of source
// (1-based; a word never spans lines). Line 0 stands for a source without
// lines, such as a Map call, and gives an error without a position.
func errorAt(source string, line, col, off int, format string, args ...any) *SyntaxError {
	e := &SyntaxError{Source: source, Msg: fmt.Sprintf(format, args...)}
	if line > 0 {
		e.Line, e.Col = line, col+off
	}
	return e
}

// syntaxError places e, a problem compileRule found in r. targetCol is the
// column of r's target when the caller knows it (the parser does; a Rule
// does not record it), else 0: the error then points at the rule and quotes
// the target.
func (r *Rule) syntaxError(e *ruleErr, targetCol int) *SyntaxError {
	line, col, off, msg := r.Line, r.Col, 0, e.msg
	switch {
	case line == 0 && r.Source == "":
		// Built by hand: name the rule by its number and text.
		msg = fmt.Sprintf("rule %d (%s): %s", r.Index, r.String(), msg)
	case line == 0:
	case e.where == inPattern:
		off = e.off
	case e.where == inTarget && targetCol > 0:
		col, off = targetCol, e.off
	case e.where == inTarget:
		msg = fmt.Sprintf("target %s: %s", quoteWord(r.Target), msg)
	case e.where == inRoute && r.Routes[e.route].Line > 0:
		line, col, off = r.Routes[e.route].Line, r.Routes[e.route].Col, e.off
	}
	return errorAt(r.Source, line, col, off, "%s", msg)
}
