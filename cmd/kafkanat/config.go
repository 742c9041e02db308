package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
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
	fs.StringVar(&f.via, "via", "", "default route `URL`: direct, socks5://, socks5h://, http://, https://; comma-separated routes are tried in order")
	fs.BoolVar(&f.strict, "strict", false, "refuse addresses no rule matches instead of dialing them directly")
}

// options returns the kafkanat options the flags ask for.
func (f *ruleFlags) options() ([]kafkanat.Option, error) {
	if f.rules != "" && f.rulesFile != "" {
		return nil, errors.New("give --rules or --rules-file, not both")
	}
	var opts []kafkanat.Option
	if f.rules != "" {
		opts = append(opts, kafkanat.Rules(f.rules))
	}
	if f.rulesFile != "" {
		// Checked here so that the message names the flag, not the option.
		if _, err := os.Stat(f.rulesFile); err != nil {
			return nil, fmt.Errorf("--rules-file: %w", err)
		}
		opts = append(opts, kafkanat.RulesFile(f.rulesFile))
	}
	if f.via != "" {
		opts = append(opts, kafkanat.Via(f.via))
	}
	if f.strict {
		opts = append(opts, kafkanat.Strict())
	}
	return opts, nil
}

// newDialer builds the dialer for the flags plus extra options. Its
// errors name what is wrong (for rules, the line and column).
func (f *ruleFlags) newDialer(extra ...kafkanat.Option) (*dialer.Dialer, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	return kafkanat.NewDialer(append(opts, extra...)...)
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
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "time allowed for the bootstrap and for each broker")
	fs.BoolVar(&f.tls, "tls", false, "TLS to the brokers, verifying the advertised name (implied by the other --tls flags)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "trust the PEM certificates in `FILE` instead of the system's")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "verify and send `NAME` instead of the advertised host")
	fs.BoolVar(&f.tlsInsecure, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates")
	fs.StringVar(&f.saslMechanism, "sasl-mechanism", "", "SASL `MECHANISM`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&f.saslUser, "sasl-user", "", "SASL `USER` name")
	fs.StringVar(&f.saslPasswordEnv, "sasl-password-env", "", "environment `VARIABLE` holding the SASL password")
}

// options returns the kafkanat options for the timeout and TLS.
func (f *connFlags) options() ([]kafkanat.Option, error) {
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: must be positive", f.timeout)
	}
	opts := []kafkanat.Option{kafkanat.DialTimeout(f.timeout)}
	if !f.tls && f.tlsCA == "" && f.tlsServerName == "" && !f.tlsInsecure {
		return opts, nil
	}
	cfg := &tls.Config{ServerName: f.tlsServerName, InsecureSkipVerify: f.tlsInsecure}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate found", f.tlsCA)
		}
	}
	return append(opts, kafkanat.TLS(cfg)), nil
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
