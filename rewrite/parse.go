package rewrite

import (
	"fmt"
	"strings"
)

// The lexer reads three kinds of words, depending on where the parser is:
//
//   - a pattern word: a regex ("~" first) runs to the next white space, so
//     ";", "#", "," and "=>" inside it belong to it; any other pattern is read
//     like a target word;
//   - a target word: runs to white space, ";", "#", "," or "=>", except that
//     a "{...}" group runs to its "}" and may hold spaces ({31090 + n});
//   - a route word: like a target word without "{...}" groups.
//
// In target and route words, the user information of a URL ("://" to the
// last "@" before white space) is part of the word whatever it holds.
//
// compileRule checks every pattern, target and route with the same function
// (scanWord), which is what lets Rule.String output parse back.
type wordMode uint8

const (
	modePattern wordMode = iota
	modeTarget
	modeRoute
)

type tokKind uint8

const (
	tokEOF   tokKind = iota
	tokSep           // ";" or a newline
	tokArrow         // "=>"
	tokComma         // ","
	tokWord
)

type token struct {
	kind      tokKind
	text      string
	line, col int
}

// describe names a token for "unexpected ..." messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokSep:
		if t.text == ";" {
			return `";"`
		}
		return "end of line"
	case tokArrow:
		return `"=>"`
	case tokComma:
		return `","`
	}
	return quoteWord(t.text)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// scanWord returns the end of the word that starts at s[i] in the given mode.
// If a "{" group is not closed on its line, it returns the offset of the "{"
// and ok=false.
func scanWord(s string, i int, mode wordMode) (end int, ok bool) {
	if mode == modePattern && i < len(s) && s[i] == '~' {
		for i < len(s) && !isSpace(s[i]) && s[i] != '\n' {
			i++
		}
		return i, true
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ':' && strings.HasPrefix(s[i:], "://"):
			// A URL's user information is part of the word, separators and
			// all (see userinfoEnd).
			if at := userinfoEnd(s, i+3); at >= 0 {
				i = at + 1
			} else {
				i += 3
			}
		case isSpace(c), c == '\n', c == ';', c == '#', c == ',':
			return i, true
		case c == '=' && i+1 < len(s) && s[i+1] == '>':
			return i, true
		case c == '{' && mode != modeRoute:
			j := i + 1
			for j < len(s) && s[j] != '}' && s[j] != '\n' && s[j] != ';' && s[j] != '#' {
				j++
			}
			if j == len(s) || s[j] != '}' {
				return i, false
			}
			i = j + 1
		default:
			i++
		}
	}
	return i, true
}

// parser is the lexer and parser of one source text.
type parser struct {
	source    string
	s         string
	off       int
	line      int
	lineStart int // offset of the current line's first byte
}

// errAt reports a problem at token t.
func (p *parser) errAt(t token, format string, args ...any) *SyntaxError {
	return errorAt(p.source, t.line, t.col, 0, format, args...)
}

// next returns the next token, skipping white space and comments.
func (p *parser) next(mode wordMode) (token, *SyntaxError) {
	for p.off < len(p.s) {
		c := p.s[p.off]
		if isSpace(c) {
			p.off++
			continue
		}
		if c == '#' {
			for p.off < len(p.s) && p.s[p.off] != '\n' {
				p.off++
			}
			continue
		}
		break
	}
	t := token{line: p.line, col: p.off - p.lineStart + 1}
	if p.off == len(p.s) {
		return t, nil
	}
	switch c := p.s[p.off]; {
	case c == '\n':
		p.off++
		p.line++
		p.lineStart = p.off
		t.kind, t.text = tokSep, "\n"
		return t, nil
	case c == ';':
		p.off++
		t.kind, t.text = tokSep, ";"
		return t, nil
	case c == ',':
		p.off++
		t.kind, t.text = tokComma, ","
		return t, nil
	case c == '=' && p.off+1 < len(p.s) && p.s[p.off+1] == '>':
		p.off += 2
		t.kind, t.text = tokArrow, "=>"
		return t, nil
	}
	end, ok := scanWord(p.s, p.off, mode)
	if !ok {
		return t, errorAt(p.source, t.line, t.col, end-p.off, `unterminated "{": a placeholder needs its "}" on the same line`)
	}
	t.kind, t.text = tokWord, p.s[p.off:end]
	p.off = end
	return t, nil
}

func isKeyword(s string) bool { return s == "via" || s == "deny" }

func atEnd(t token) bool { return t.kind == tokEOF || t.kind == tokSep }

// Parse parses text in the rule language (see the package documentation).
// source names the text in errors and in each Rule's Source, for example
// "rules". Rules are returned in written order with Index 0; Compile numbers
// them. Parse checks everything Compile checks, so an error names the exact
// line and column of the offending token; it is always a *SyntaxError.
// An empty text, or one holding only comments, yields no rules.
func Parse(source, text string) ([]Rule, error) {
	p := &parser{source: source, s: text, line: 1}
	var rules []Rule
	for {
		t, err := p.next(modePattern)
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokEOF:
			return rules, nil
		case tokSep:
			continue
		}
		r, err := p.rule(t)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
}

// rule parses one rule whose first token is first.
func (p *parser) rule(first token) (Rule, *SyntaxError) {
	if first.kind != tokWord || isKeyword(first.text) {
		return Rule{}, p.errAt(first, "missing pattern before %s", first.describe())
	}
	r := Rule{Source: p.source, Line: first.line, Col: first.col, Pattern: first.text}
	targetCol := 0

	t, err := p.next(modeTarget)
	if err != nil {
		return Rule{}, err
	}
	switch {
	case t.kind == tokArrow:
		tt, err := p.next(modeTarget)
		if err != nil {
			return Rule{}, err
		}
		if tt.kind != tokWord || isKeyword(tt.text) {
			return Rule{}, p.errAt(tt, "missing target after \"=>\", found %s", tt.describe())
		}
		r.Target, targetCol = tt.text, tt.col
		if t, err = p.next(modeRoute); err != nil {
			return Rule{}, err
		}
		switch {
		case atEnd(t):
		case t.kind == tokWord && t.text == "via":
			if t, err = p.routes(&r); err != nil {
				return Rule{}, err
			}
		case t.kind == tokWord && t.text == "deny":
			return Rule{}, p.errAt(t, `"deny" cannot follow a target: a rule either rewrites or denies`)
		case t.kind == tokArrow:
			return Rule{}, p.errAt(t, `unexpected "=>": a rule has one target`)
		default:
			return Rule{}, p.errAt(t, `unexpected %s after target; expected "via", ";" or end of line`, t.describe())
		}
	case t.kind == tokWord && t.text == "via":
		if t, err = p.routes(&r); err != nil {
			return Rule{}, err
		}
	case t.kind == tokWord && t.text == "deny":
		r.Deny = true
		if t, err = p.next(modeRoute); err != nil {
			return Rule{}, err
		}
		switch {
		case atEnd(t):
		case t.kind == tokWord && t.text == "via":
			return Rule{}, p.errAt(t, `"deny" cannot be combined with "via"`)
		case t.kind == tokArrow:
			return Rule{}, p.errAt(t, `"deny" cannot be combined with a target`)
		default:
			return Rule{}, p.errAt(t, `unexpected %s after "deny"`, t.describe())
		}
	case atEnd(t):
		return Rule{}, p.errAt(t, `missing "=>", "via" or "deny" after pattern %s%s`, quoteWord(r.Pattern), regexHint(r.Pattern))
	default:
		return Rule{}, p.errAt(t, `unexpected %s after pattern %s; expected "=>", "via" or "deny"%s`, t.describe(), quoteWord(r.Pattern), regexHint(r.Pattern))
	}
	// t is now the token that ended the rule; a route list ends at one too.
	if !atEnd(t) {
		return Rule{}, p.errAt(t, "unexpected %s", t.describe())
	}
	if e := r.compile(); e != nil {
		return Rule{}, r.syntaxError(e, targetCol)
	}
	return r, nil
}

// regexHint explains a regex that swallowed the rest of a rule.
func regexHint(pattern string) string {
	if strings.HasPrefix(pattern, "~") && (strings.ContainsAny(pattern, ";#,") || strings.Contains(pattern, "=>")) {
		return ` (a regex runs to the next space: ";", "#", "," and "=>" inside it are part of it)`
	}
	return ""
}

// routes parses the list after "via" and returns the token that ended it.
func (p *parser) routes(r *Rule) (token, *SyntaxError) {
	after := `"via"`
	for {
		t, err := p.next(modeRoute)
		if err != nil {
			return t, err
		}
		if t.kind != tokWord || isKeyword(t.text) {
			return t, p.errAt(t, "missing route after %s, found %s", after, t.describe())
		}
		r.Routes = append(r.Routes, RouteRef{Name: t.text, Line: t.line, Col: t.col})
		if t, err = p.next(modeRoute); err != nil {
			return t, err
		}
		switch {
		case t.kind == tokComma:
			after = `","`
			continue
		case atEnd(t):
			return t, nil
		case t.kind == tokArrow:
			return t, p.errAt(t, `"=>" must come before "via"`)
		case t.kind == tokWord && t.text == "deny":
			return t, p.errAt(t, `"deny" cannot be combined with "via"`)
		case t.kind == tokWord && t.text == "via":
			return t, p.errAt(t, `duplicate "via": list all routes after one "via", separated by ","`)
		default:
			return t, p.errAt(t, `unexpected %s after route; separate routes with ","`, t.describe())
		}
	}
}

// ParseMap returns the rule "advertised => target", as the Map option
// writes it. Either side may be "host:port" or "host"; a target without a
// port keeps the advertised port. Every pattern and target form of the rule
// language is accepted (wildcards, placeholders, a ~regex advertised side),
// each side being exactly one word of it. The rule's Source is
// fmt.Sprintf("Map(%q, %q)", advertised, target) and its Line and Col are 0.
// Errors are *SyntaxError without a position.
func ParseMap(advertised, target string) (Rule, error) {
	r := Rule{Source: fmt.Sprintf("Map(%q, %q)", advertised, target), Pattern: advertised, Target: target}
	fail := func(msg string) (Rule, error) { return Rule{}, errorAt(r.Source, 0, 0, 0, "%s", msg) }
	if advertised == "" {
		return fail("empty advertised address")
	}
	if target == "" {
		return fail("empty target")
	}
	if e := r.compile(); e != nil {
		side := "advertised address"
		if e.where == inTarget {
			side = "target"
		}
		return fail(side + ": " + e.msg)
	}
	return r, nil
}
