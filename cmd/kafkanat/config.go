package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/rewrite"
)

// ruleFlags are the flags that build a kafkanat dialer: probe and explain
// share them.
type ruleFlags struct {
	rules     string
	rulesFile string
	via       string
	strict    bool
}

func (f *ruleFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rules, "rules", "", "rules `TEXT` in the kafkanat rule language (\"a => b; c via socks5://gw:1080\")")
	fs.StringVar(&f.rulesFile, "rules-file", "", "read the rules from `FILE`")
	fs.StringVar(&f.via, "via", "", "default route `URL`: direct, socks5://, socks5h://, http://, https:// or ssh://; comma-separated routes are tried in order")
	fs.BoolVar(&f.strict, "strict", false, "refuse addresses no rule matches instead of dialing them directly")
}

// config returns the dialer configuration the flags ask for. The
// commands build it themselves, rather than through kafkanat's options, so
// that probe can add the forward dialer and hook that time each stage.
func (f *ruleFlags) config() (dialer.Config, error) {
	var cfg dialer.Config
	switch {
	case f.rules != "" && f.rulesFile != "":
		return cfg, errors.New("give --rules or --rules-file, not both")
	case f.rules != "":
		rs, err := rewrite.Parse("rules", f.rules)
		if err != nil {
			return cfg, err
		}
		cfg.Rules = rs
	case f.rulesFile != "":
		text, err := os.ReadFile(f.rulesFile)
		if err != nil {
			return cfg, fmt.Errorf("--rules-file: %w", err)
		}
		rs, err := rewrite.Parse(f.rulesFile, string(text))
		if err != nil {
			return cfg, err
		}
		cfg.Rules = rs
	}
	if f.via != "" {
		cfg.Via = rewrite.SplitRouteList(f.via)
		if slices.Contains(cfg.Via, "") {
			return cfg, fmt.Errorf("--via %q: empty route", rewrite.RedactRouteList(f.via))
		}
	}
	cfg.Strict = f.strict
	return cfg, nil
}

// newDialer builds a dialer for cfg. Its error names what is wrong (for
// a route, which one); the "kafkanat: " dialer.New puts in front is left
// to the command, which names itself.
func newDialer(cfg dialer.Config) (*dialer.Dialer, error) {
	d, err := dialer.New(cfg)
	if err != nil {
		if reason := errors.Unwrap(err); reason != nil && errors.Is(err, dialer.ErrConfig) {
			return nil, reason
		}
		return nil, err
	}
	return d, nil
}

// connFlags are probe's flags for reaching the brokers: timeout, TLS and
// SASL.
type connFlags struct {
	timeout time.Duration

	tls           bool
	tlsCA         string
	tlsServerName string
	tlsInsecure   bool

	saslMechanism   string
	saslUser        string
	saslPasswordEnv string
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "time allowed for each dial (all its routes) and for the Kafka requests after it")
	fs.BoolVar(&f.tls, "tls", false, "TLS to the brokers, verifying the advertised name (implied by the other --tls flags)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "trust the PEM certificates in `FILE` instead of the system's")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "verify and send `NAME` instead of the advertised host")
	fs.BoolVar(&f.tlsInsecure, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates")
	fs.StringVar(&f.saslMechanism, "sasl-mechanism", "", "SASL `MECHANISM`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&f.saslUser, "sasl-user", "", "SASL `USER` name")
	fs.StringVar(&f.saslPasswordEnv, "sasl-password-env", "", "environment `VARIABLE` holding the SASL password")
}

// apply sets the dial timeout and TLS of cfg as the flags ask.
func (f *connFlags) apply(cfg *dialer.Config) error {
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout %v: must be positive", f.timeout)
	}
	cfg.DialTimeout = f.timeout
	if !f.tls && f.tlsCA == "" && f.tlsServerName == "" && !f.tlsInsecure {
		return nil
	}
	tc := &tls.Config{ServerName: f.tlsServerName, InsecureSkipVerify: f.tlsInsecure}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return fmt.Errorf("--tls-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--tls-ca %s: no PEM certificate found", f.tlsCA)
		}
	}
	cfg.TLS = tc
	return nil
}

// mechanism returns the SASL mechanism the flags ask for, nil for none.
// The password comes from the environment only, so that it appears in no
// command line, shell history or process list.
func (f *connFlags) mechanism() (sasl.Mechanism, error) {
	if f.saslMechanism == "" {
		if f.saslUser != "" || f.saslPasswordEnv != "" {
			return nil, errors.New("--sasl-user and --sasl-password-env need --sasl-mechanism")
		}
		return nil, nil
	}
	if f.saslUser == "" {
		return nil, errors.New("--sasl-mechanism needs --sasl-user")
	}
	if f.saslPasswordEnv == "" {
		return nil, errors.New("--sasl-mechanism needs --sasl-password-env (the password is read from the environment only)")
	}
	pass, ok := os.LookupEnv(f.saslPasswordEnv)
	if !ok || pass == "" {
		return nil, fmt.Errorf("--sasl-password-env %s: the variable is not set or empty", f.saslPasswordEnv)
	}
	switch strings.ToUpper(f.saslMechanism) {
	case "PLAIN":
		return plain.Auth{User: f.saslUser, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: f.saslUser, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: f.saslUser, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.saslMechanism)
}
