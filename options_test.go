package kafkanat_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/internal/testnet"
)

func TestFromEnvironment(t *testing.T) {
	t.Setenv("ALL_PROXY", "socks5://alice:s3cret@127.0.0.1:1080")
	t.Setenv("NO_PROXY", "localhost,127.0.0.0/8,.corp.invalid")
	for _, tc := range []struct{ addr, want string }{
		{"b1.kafka.invalid:9092", "b1.kafka.invalid:9092: no rule: dialed via socks5://alice:xxxxx@127.0.0.1:1080"},
		{"db.corp.invalid:5432", "db.corp.invalid:5432: no rule: dialed directly"},
		{"127.0.0.1:9092", "127.0.0.1:9092: no rule: dialed directly"},
		{"localhost:9092", "localhost:9092: no rule: dialed directly"},
	} {
		dec, err := kafkanat.Explain(tc.addr, kafkanat.FromEnvironment())
		require.NoError(t, err)
		assert.Equal(t, tc.want, dec.String())
	}

	// The lower-case names work too; the upper-case ones win.
	t.Setenv("ALL_PROXY", "")
	t.Setenv("all_proxy", "http://127.0.0.1:3128")
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	dec, err := kafkanat.Explain("b1.kafka.invalid:9092", kafkanat.FromEnvironment())
	require.NoError(t, err)
	assert.Equal(t, []string{"http://127.0.0.1:3128"}, dec.Routes)

	// A later Via overrides the environment.
	dec, err = kafkanat.Explain("b1.kafka.invalid:9092", kafkanat.FromEnvironment(), kafkanat.Via("direct"))
	require.NoError(t, err)
	assert.Equal(t, []string{"direct"}, dec.Routes)

	t.Setenv("all_proxy", "ftp://u:s3cret@127.0.0.1:21")
	_, err = kafkanat.NewDialer(kafkanat.FromEnvironment())
	require.ErrorIs(t, err, kafkanat.ErrConfig)
	assert.EqualError(t, err, `kafkanat: FromEnvironment: all_proxy=ftp://u:xxxxx@127.0.0.1:21: scheme "ftp" is not socks5, socks5h or http`)

	t.Setenv("all_proxy", "127.0.0.1:1080")
	_, err = kafkanat.NewDialer(kafkanat.FromEnvironment())
	require.ErrorIs(t, err, kafkanat.ErrConfig)

	t.Setenv("all_proxy", "socks5://127.0.0.1:1080")
	t.Setenv("no_proxy", "10.0.0.0/99")
	_, err = kafkanat.NewDialer(kafkanat.FromEnvironment())
	assert.ErrorContains(t, err, `NO_PROXY entry 1 "10.0.0.0/99"`)

	t.Setenv("all_proxy", "")
	dec, err = kafkanat.Explain("b1.kafka.invalid:9092", kafkanat.FromEnvironment())
	require.NoError(t, err)
	assert.Equal(t, "b1.kafka.invalid:9092: no rule: dialed directly", dec.String(), "unset: nothing changes")
}

func TestRulesFileOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kafka.rules")
	require.NoError(t, os.WriteFile(path, []byte("# office\nkafka:9092 => 127.0.0.1:19092\n"), 0o600))
	dec, err := kafkanat.Explain("kafka:9092", kafkanat.Map("other:1", "127.0.0.1:1"), kafkanat.RulesFile(path))
	require.NoError(t, err)
	assert.Equal(t, 2, dec.Rule)
	assert.Equal(t, "127.0.0.1:19092", dec.Target)

	require.NoError(t, os.WriteFile(path, []byte("kafka:9092 =>\n"), 0o600))
	_, err = kafkanat.NewDialer(kafkanat.RulesFile(path))
	require.ErrorIs(t, err, kafkanat.ErrConfig)
	assert.Contains(t, err.Error(), path+" line 1")

	_, err = kafkanat.NewDialer(kafkanat.RulesFile(filepath.Join(t.TempDir(), "missing")))
	require.ErrorIs(t, err, kafkanat.ErrConfig)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestHookOption(t *testing.T) {
	a := testnet.Echo(t)
	var dials, closes int
	dial := kafkanat.New(kafkanat.Map("x.invalid:1", a), kafkanat.Hook(dialer.HookFuncs{
		Dial:  func(dialer.DialEvent) { dials++ },
		Close: func(dialer.CloseEvent) { closes++ },
	}))
	c, err := dial.Dial("tcp", "x.invalid:1")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.Equal(t, 1, dials)
	assert.Equal(t, 1, closes)

	_, err = kafkanat.NewDialer(kafkanat.Hook(nil))
	require.ErrorIs(t, err, kafkanat.ErrConfig)
}
