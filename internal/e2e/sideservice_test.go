package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// registryAddr is the hidden address of the schema registry that lives
// next to the brokers.
const registryAddr = "registry.kafka.internal.invalid:8081"

var subjects = []string{"tasks-key", "tasks-value"}

// startRegistry starts a schema-registry-like HTTP server on loopback and
// returns its real address. GET /subjects answers the subjects as JSON,
// to requests addressed (Host) to registryAddr only.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != registryAddr {
			http.Error(w, fmt.Sprintf("no virtual host %q here", r.Host), http.StatusMisdirectedRequest)
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/subjects" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		json.NewEncoder(w).Encode(subjects)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// innerNetwork dials the way DNS inside the brokers' network resolves: the
// cluster's advertised addresses and the registry's hidden address reach
// their loopback listeners; anything else is refused, never dialed.
func innerNetwork(c *kafkanattest.Cluster, registry string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == registryAddr {
			var d net.Dialer
			return d.DialContext(ctx, network, registry)
		}
		return c.DialAdvertised(ctx, network, address)
	}
}

// getSubjects asks the registry for its subjects over an http.Transport
// that dials through dial.
func getSubjects(t *testing.T, dial kafkanat.DialFunc) []string {
	t.Helper()
	tr := &http.Transport{DialContext: dial}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + registryAddr + "/subjects")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got []string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	return got
}

// The same DialFunc serves the Kafka client and the HTTP client of a side
// service (a schema registry) behind the same route.
func TestSideService(t *testing.T) {
	t.Run("socks5-gateway", func(t *testing.T) {
		c := hiddenCluster(t)
		gateway, err := kafkanattest.NewSOCKS5Server(kafkanattest.WithDialer(innerNetwork(c, startRegistry(t))))
		require.NoError(t, err)
		defer gateway.Close()
		rec := &recording{dial: kafkanat.New(kafkanat.Rules("*.kafka.internal.invalid via "+gateway.URL()), kafkanat.Strict())}

		assert.Equal(t, subjects, getSubjects(t, rec.DialContext))
		assert.Equal(t, []string{registryAddr}, gateway.Targets(), "the gateway resolves the registry's name")
		rec.mu.Lock()
		require.Len(t, rec.infos, 1)
		info := rec.infos[0]
		assert.Equal(t, registryAddr, info.Address)
		assert.Equal(t, registryAddr, info.Target, "the name travels unresolved")
		assert.Equal(t, gateway.URL(), info.Route)
		assert.Equal(t, 1, info.Rule)
		rec.mu.Unlock()

		// The Kafka client uses the same dialer, rules and gateway.
		franzRoundTrip(t, c.Advertised()[0], rec.DialContext).check(t, c, gateway.URL(), gateway.Addr())
	})
	t.Run("ssh-bastion", func(t *testing.T) {
		c := hiddenCluster(t)
		d, bastion := sshBastion(t, kafkanattest.WithSSHDialer(innerNetwork(c, startRegistry(t))))
		rec := &recording{dial: kafkanat.New(kafkanat.Route("bastion", d),
			kafkanat.Rules("*.kafka.internal.invalid via bastion"), kafkanat.Strict())}

		assert.Equal(t, subjects, getSubjects(t, rec.DialContext))
		assert.Equal(t, []string{registryAddr}, bastion.Targets(), "the bastion resolves the registry's name")
		rec.mu.Lock()
		require.Len(t, rec.infos, 1)
		assert.Equal(t, registryAddr, rec.infos[0].Target, "the name travels unresolved")
		assert.Equal(t, "bastion", rec.infos[0].Route)
		rec.mu.Unlock()

		franzRoundTrip(t, c.Advertised()[0], rec.DialContext).check(t, c, "bastion", "")
		assert.Equal(t, 1, bastion.Connections(), "one SSH connection carries the registry and the brokers")
	})
	t.Run("mapping", func(t *testing.T) {
		registry := startRegistry(t)
		dial := kafkanat.New(kafkanat.Map(registryAddr, registry), kafkanat.Strict())
		assert.Equal(t, subjects, getSubjects(t, dial))
	})
}
