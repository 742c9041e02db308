package e2e

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

const (
	saslUser     = "tasks-app"
	saslPassword = "c0rrect-h0rse"
)

// saslMechanism is one SASL mechanism as each client names it.
type saslMechanism struct {
	name   string // as kafkanattest.SASL names it
	franz  func(user, pass string) sasl.Mechanism
	sarama sarama.SASLMechanism
	scram  func(scram.Auth) sasl.Mechanism // for sarama's SCRAM client; nil for PLAIN
}

var saslMechanisms = []saslMechanism{
	{"PLAIN", func(u, p string) sasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
		sarama.SASLTypePlaintext, nil},
	{"SCRAM-SHA-256", func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
		sarama.SASLTypeSCRAMSHA256, scram.Auth.AsSha256Mechanism},
	{"SCRAM-SHA-512", func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
		sarama.SASLTypeSCRAMSHA512, scram.Auth.AsSha512Mechanism},
}

// saslCluster starts a hidden cluster that accepts only clients
// authenticated with m as saslUser.
func saslCluster(t *testing.T, m saslMechanism) *kafkanattest.Cluster {
	t.Helper()
	return hiddenCluster(t, kafkanattest.SASL(m.name, saslUser, saslPassword))
}

func (m saslMechanism) configureSarama(user, pass string) func(*sarama.Config) {
	return func(cfg *sarama.Config) {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = m.sarama
		cfg.Net.SASL.User = user
		cfg.Net.SASL.Password = pass
		if m.scram != nil {
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{mechanism: m.scram} }
		}
	}
}

// scramClient is sarama's SCRAM client built on franz-go's (pkg/sasl/scram,
// already a dependency): sarama ships none, and the package its examples use
// (xdg-go/scram) is not in this module.
type scramClient struct {
	mechanism func(scram.Auth) sasl.Mechanism
	session   sasl.Session
	first     []byte // the client-first message, sent at the first Step
	done      bool
}

var _ sarama.SCRAMClient = (*scramClient)(nil)

func (c *scramClient) Begin(user, pass, authzID string) error {
	s, first, err := c.mechanism(scram.Auth{User: user, Pass: pass, Zid: authzID}).Authenticate(context.Background(), "")
	c.session, c.first = s, first
	return err
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.first != nil {
		first := c.first
		c.first = nil
		return string(first), nil
	}
	done, resp, err := c.session.Challenge([]byte(challenge))
	c.done = done
	return string(resp), err
}

func (c *scramClient) Done() bool { return c.done }

// SASL authentication runs over the rewritten routes like any other bytes.
func TestSASL(t *testing.T) {
	for _, m := range saslMechanisms {
		t.Run(m.name, func(t *testing.T) {
			for _, r := range []testRoute{route(t, "mapping"), route(t, "socks5"), route(t, "tinyproxy")} {
				t.Run(r.name, func(t *testing.T) {
					t.Run("franz-go", func(t *testing.T) {
						c := saslCluster(t, m)
						opts, route, peer := routeOptions(t, c, r)
						rec := franzRoundTripWith(t, c.Advertised()[0], kafkanat.New(opts...), kgo.SASL(m.franz(saslUser, saslPassword)))
						rec.check(t, c, route, peer)
					})
					t.Run("sarama", func(t *testing.T) {
						c := saslCluster(t, m)
						opts, route, peer := routeOptions(t, c, r)
						rec := saramaRoundTripWith(t, c.Advertised()[0], kafkanat.New(opts...), m.configureSarama(saslUser, saslPassword))
						rec.check(t, c, route, peer)
					})
				})
			}
		})
	}
}

// A wrong password travels the route and is refused by the broker: the
// dial succeeds, and the client's error is the broker's verdict, not a
// kafkanat dial error. (kfake drops the connection on bad credentials, so
// the clients report EOF; a real broker first answers
// SASL_AUTHENTICATION_FAILED with a message.)
func TestSASLWrongPassword(t *testing.T) {
	const wrong = "wr0ng-pa55word"
	// cluster starts a SASL cluster that counts the authentication
	// requests it receives.
	cluster := func(t *testing.T, m saslMechanism) (*kafkanattest.Cluster, *atomic.Int32) {
		var auths atomic.Int32
		c := hiddenCluster(t, kafkanattest.SASL(m.name, saslUser, saslPassword),
			kafkanattest.OnRequest(int16(kmsg.SASLAuthenticate), func(int32) { auths.Add(1) }))
		return c, &auths
	}
	checkErr := func(t *testing.T, err error, rec *recording, c *kafkanattest.Cluster, auths *atomic.Int32) {
		t.Helper()
		assert.Positive(t, auths.Load(), "the broker received the credentials")
		require.Error(t, err)
		t.Logf("error: %v", err)
		var dialErr *kafkanat.DialError
		assert.False(t, errors.As(err, &dialErr), "a SASL failure is not a dial failure: %v", err)
		assert.NotContains(t, err.Error(), wrong)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		require.NotEmpty(t, rec.infos, "the route connected")
		assert.Equal(t, c.Advertised()[0], rec.infos[0].Address)
	}
	for _, m := range saslMechanisms {
		t.Run(m.name, func(t *testing.T) {
			t.Run("franz-go", func(t *testing.T) {
				c, auths := cluster(t, m)
				opts, _, _ := routeOptions(t, c, route(t, "socks5"))
				rec := &recording{dial: kafkanat.New(opts...)}
				cl, err := kgo.NewClient(kgo.SeedBrokers(c.Advertised()[0]), kgo.Dialer(rec.DialContext),
					kgo.SASL(m.franz(saslUser, wrong)))
				require.NoError(t, err)
				defer cl.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err = cl.Ping(ctx)
				require.NoError(t, ctx.Err(), "the client must fail on its own, not by our timeout")
				checkErr(t, err, rec, c, auths)
				assert.ErrorIs(t, err, io.EOF, "kfake closes the connection")
			})
			t.Run("sarama", func(t *testing.T) {
				c, auths := cluster(t, m)
				opts, _, _ := routeOptions(t, c, route(t, "socks5"))
				rec := &recording{dial: kafkanat.New(opts...)}
				cfg := sarama.NewConfig()
				cfg.Version = sarama.V3_0_0_0
				cfg.Net.Proxy.Enable = true
				cfg.Net.Proxy.Dialer = rec
				cfg.Metadata.Retry.Max = 0
				m.configureSarama(saslUser, wrong)(cfg)
				cl, err := sarama.NewClient([]string{c.Advertised()[0]}, cfg)
				if err == nil {
					cl.Close()
				}
				checkErr(t, err, rec, c, auths)
				assert.ErrorIs(t, err, io.EOF, "kfake closes the connection")
			})
		})
	}
}
