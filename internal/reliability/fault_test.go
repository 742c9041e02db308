package reliability

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
	"github.com/kafkanat/kafkanat/rewrite"
)

// proxyDowntime is how long a killed proxy stays down before it restarts:
// long enough for clients to see their dials refused.
const proxyDowntime = 300 * time.Millisecond

// routeName is how kafkanat names a route URL (with an explicit port and
// no password).
func routeName(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Redacted()
}

// requireRedialed fails unless the client connected, over route, after
// since (the moment the fault struck): the fault cut its connections and
// it came back. While a killed proxy is down no dial over it can succeed,
// so a connection after the kill is one through the restarted proxy.
func requireRedialed(t *testing.T, dial *dialLog, since time.Time, route string) {
	t.Helper()
	after := dial.connected(since)
	for _, e := range after {
		if e.info.Route == route {
			return
		}
	}
	t.Fatalf("no connection over %s after the fault; dials:\n%s", route, dial.summary())
}

// TestFaultMicrosocksRestart kills microsocks, the route of every broker
// connection, mid-stream and restarts it on the same port.
func TestFaultMicrosocksRestart(t *testing.T) {
	eachProducer(t, func(t *testing.T, produce producer) {
		c := hiddenCluster(t)
		ms := startMicrosocks(t)
		proxyURL := "socks5://" + ms.addr
		// Targets are IP addresses: a real peer must never resolve a name.
		dial := newDialLog(kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Via(proxyURL), kafkanat.Strict()))
		res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, streamWorkload(), func(int) {
			ms.Kill()
			time.Sleep(proxyDowntime)
			ms.Restart()
		})
		requireRedialed(t, dial, res.faultStarts[len(res.faultStarts)-1], routeName(t, proxyURL))
	})
}

// TestFaultTinyproxyRestart kills tinyproxy, the HTTP CONNECT route of
// every broker connection, mid-stream and restarts it on the same port.
func TestFaultTinyproxyRestart(t *testing.T) {
	eachProducer(t, func(t *testing.T, produce producer) {
		c := hiddenCluster(t)
		tp := startTinyproxy(t)
		proxyURL := "http://" + tp.addr
		dial := newDialLog(kafkanat.New(kafkanat.Rules(c.Rules()), kafkanat.Via(proxyURL), kafkanat.Strict()))
		res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, streamWorkload(), func(int) {
			tp.Kill()
			time.Sleep(proxyDowntime)
			tp.Restart()
		})
		requireRedialed(t, dial, res.faultStarts[len(res.faultStarts)-1], routeName(t, proxyURL))
	})
}

// TestFaultFirstRouteDies gives every broker two routes, `via a, b`, and
// closes a (an in-process SOCKS5 proxy) mid-stream: every connection it
// carried dies, its port refuses, and traffic carries on over b.
func TestFaultFirstRouteDies(t *testing.T) {
	for _, second := range []string{"socks5", "direct"} {
		t.Run("b="+second, func(t *testing.T) {
			eachProducer(t, func(t *testing.T, produce producer) {
				c := hiddenCluster(t)
				newProxy := func(opts ...kafkanattest.ProxyOption) *kafkanattest.SOCKS5Server {
					p, err := kafkanattest.NewSOCKS5Server(opts...)
					require.NoError(t, err)
					t.Cleanup(func() { p.Close() })
					return p
				}
				var (
					a, b   *kafkanattest.SOCKS5Server
					rules  string
					bRoute string
				)
				if second == "socks5" {
					// Both proxies resolve the hidden names on the brokers'
					// side, as in-cluster gateways would.
					a = newProxy(kafkanattest.WithDialer(c.DialAdvertised))
					b = newProxy(kafkanattest.WithDialer(c.DialAdvertised))
					rules = "*.kafka.internal.invalid via " + a.URL() + ", " + b.URL()
					bRoute = routeName(t, b.URL())
				} else {
					// Direct needs the real addresses: map each broker.
					a = newProxy()
					var sb strings.Builder
					for i, adv := range c.Advertised() {
						sb.WriteString(adv + " => " + c.Addrs()[i] + " via " + a.URL() + ", direct\n")
					}
					rules, bRoute = sb.String(), "direct"
				}
				dial := newDialLog(kafkanat.New(kafkanat.Rules(rules), kafkanat.Strict()))
				aRoute := routeName(t, a.URL())
				// a dies once and stays dead (a soak only runs longer).
				w := streamWorkload()
				w.faults = 1
				res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, w, func(int) {
					// Close cuts every connection a relays; its port then refuses.
					if err := a.Close(); err != nil {
						t.Errorf("closing route a: %v", err)
					}
				})
				died := res.faultEnds[0]
				for _, e := range dial.all() {
					if e.err != nil {
						continue
					}
					if e.at.Before(res.faultStarts[0]) {
						assert.Equal(t, aRoute, e.info.Route, "before a died, %s went over %s", e.address, e.info.Route)
					} else if e.at.After(died) {
						assert.Equal(t, bRoute, e.info.Route, "after a died, %s went over %s", e.address, e.info.Route)
					}
				}
				requireRedialed(t, dial, res.faultStarts[0], bRoute)
				if b != nil {
					assert.NotEmpty(t, b.Targets(), "b was never asked for a broker")
				}
			})
		})
	}
}

// TestFaultBrokerMoves moves a broker to a new port (same advertised name)
// mid-stream, cutting its connections; the rules are then updated, once
// with Dialer.SetRules and once through a watched rules file replaced by
// rename, and the clients find the broker at its new address.
func TestFaultBrokerMoves(t *testing.T) {
	t.Run("SetRules", func(t *testing.T) {
		eachProducer(t, func(t *testing.T, produce producer) {
			c := hiddenCluster(t)
			d, err := kafkanat.NewDialer(kafkanat.Rules(c.Rules()), kafkanat.Strict())
			require.NoError(t, err)
			defer d.Close()
			dial := newDialLog(d.DialContext)
			var moved []string
			res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, streamWorkload(), func(n int) {
				node := n % len(c.Addrs()) // broker 1 first; in a soak, each in turn
				newAddr, err := c.MoveBroker(node)
				if err != nil {
					t.Errorf("MoveBroker(%d): %v", node, err)
					return
				}
				moved = append(moved, newAddr)
				// Clients see the old port refuse for a moment, as they
				// would while an operator updates the rules.
				time.Sleep(200 * time.Millisecond)
				rules, err := rewrite.Parse("rules", c.Rules())
				if err == nil {
					err = d.SetRules(rules)
				}
				if err != nil {
					t.Errorf("updating the rules: %v", err)
				}
			})
			requireTarget(t, dial, res.faultStarts[0], moved[0])
		})
	})
	t.Run("WatchRulesFile", func(t *testing.T) {
		eachProducer(t, func(t *testing.T, produce producer) {
			c := hiddenCluster(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "rules")
			require.NoError(t, writeAtomically(path, c.Rules()))
			d, err := kafkanat.NewDialer(kafkanat.RulesFile(path), kafkanat.Strict())
			require.NoError(t, err)
			defer d.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.WatchRulesFile(ctx, path, 50*time.Millisecond, func(err error) { t.Errorf("rules file: %v", err) })
			}()
			defer wg.Wait()
			defer cancel()

			dial := newDialLog(d.DialContext)
			var moved []string
			res := produceThroughFaults(t, c, c.Advertised()[0], dial, produce, streamWorkload(), func(n int) {
				node := (n - 1) % len(c.Addrs()) // the bootstrap broker first
				newAddr, err := c.MoveBroker(node)
				if err != nil {
					t.Errorf("MoveBroker(%d): %v", node, err)
					return
				}
				moved = append(moved, newAddr)
				if err := writeAtomically(path, c.Rules()); err != nil {
					t.Error(err)
					return
				}
				adv := c.Advertised()[node]
				if err := waitFor("the watcher loads the new rules", func() bool {
					dec, err := d.Explain(ctx, adv)
					return err == nil && dec.Target == newAddr
				}); err != nil {
					t.Error(err)
				}
			})
			requireTarget(t, dial, res.faultStarts[0], moved[0])
		})
	})
}

// requireTarget fails unless a connection to target, the broker's new
// address, was made after since (the move).
func requireTarget(t *testing.T, dial *dialLog, since time.Time, target string) {
	t.Helper()
	for _, e := range dial.connected(since) {
		if e.info.Target == target {
			return
		}
	}
	t.Fatalf("no connection to the moved broker at %s after the move; dials:\n%s", target, dial.summary())
}

// writeAtomically replaces path with text the way WatchRulesFile asks:
// a new file renamed over the old one.
func writeAtomically(path, text string) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
