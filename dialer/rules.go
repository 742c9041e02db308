package dialer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kafkanat/kafkanat/rewrite"
)

// ruleState is one compiled rule table with its routes; a Dialer swaps
// whole states atomically, so a dial sees one table or the other.
type ruleState struct {
	table  *rewrite.Table
	routes [][]*route // by rule index - 1; nil means the default routes
	text   []string   // by rule index - 1, credentials redacted
}

// setRules compiles rules, resolves their routes and installs them; the
// routes no table or default names any more are released.
func (d *Dialer) setRules(rules []rewrite.Rule) error {
	table, err := rewrite.Compile(rules)
	if err != nil {
		return err
	}
	compiled := table.Rules()
	st := &ruleState{table: table, routes: make([][]*route, len(compiled)), text: make([]string, len(compiled))}
	rs := d.routes.resolver()
	for i := range compiled {
		rule := &compiled[i]
		st.text[i] = rule.String()
		for _, ref := range rule.Routes {
			r, err := rs.resolve(ref.Name)
			if err != nil {
				rs.abort()
				return &rewrite.SyntaxError{Source: rule.Source, Line: ref.Line, Col: ref.Col, Msg: err.Error()}
			}
			st.routes[i] = append(st.routes[i], r)
		}
	}
	d.rules.Store(st)
	rs.commit(d.defaultRoutes)
	return nil
}

// SetRules replaces the whole rule table atomically. Connections already
// open are untouched; the next dial uses the new table. Routes the new
// table and the defaults no longer name are released: an ssh:// route's
// SSH connection closes once the connections made through it have closed.
// On error (matching ErrConfig, naming the rule) the table in use stays as
// it was. After Close it fails with an error matching net.ErrClosed.
func (d *Dialer) SetRules(rules []rewrite.Rule) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return errClosed
	}
	return ConfigError(d.setRules(rules))
}

// Rules returns the rules in use, in order.
func (d *Dialer) Rules() []rewrite.Rule {
	return d.rules.Load().table.Rules()
}

// LoadRulesFile replaces the rule table with the rules in the file at
// path (the rule language; errors name the file, line and column). Call it
// whenever the file should be re-read, or use WatchRulesFile.
func (d *Dialer) LoadRulesFile(path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return ConfigError(fmt.Errorf("rules file: %w", err))
	}
	return d.loadRules(path, text)
}

func (d *Dialer) loadRules(path string, text []byte) error {
	rules, err := rewrite.Parse(path, string(text))
	if err != nil {
		return ConfigError(err)
	}
	return d.SetRules(rules)
}

// WatchRulesFile loads the rules in the file at path, then re-reads the
// file every interval (zero means every second) and replaces the table
// whenever its content changes, until ctx is done. It returns the error of
// the first load, or ctx's error at the end. A later change that does not
// load (unreadable, or a rule that does not parse) leaves the table as it
// was and is passed to onError (nil: logged at Warn); the next change is
// tried again. Replace the file atomically (write a new file, then rename
// it over the old one), or a read may catch it half-written. Run it in its
// own goroutine:
//
//	go d.WatchRulesFile(ctx, "/etc/kafkanat/rules", 0, nil)
func (d *Dialer) WatchRulesFile(ctx context.Context, path string, interval time.Duration, onError func(error)) error {
	if interval <= 0 {
		interval = time.Second
	}
	if onError == nil {
		onError = func(err error) { d.log.WarnContext(ctx, "kafkanat: rules file not loaded", "path", path, "error", err) }
	}
	last, err := os.ReadFile(path)
	if err != nil {
		return ConfigError(fmt.Errorf("rules file: %w", err))
	}
	if err := d.loadRules(path, last); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		text, err := os.ReadFile(path)
		if err != nil {
			onError(ConfigError(fmt.Errorf("rules file: %w", err)))
			continue
		}
		if bytes.Equal(text, last) {
			continue
		}
		last = text
		if err := d.loadRules(path, text); err != nil {
			onError(err)
		}
	}
}
