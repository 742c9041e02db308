package main

import (
	"context"
	"fmt"
	"io"
)

const explainUsage = `Usage: kafkanat explain ADDRESS... [--rules TEXT | --rules-file FILE] [--via URL] [--strict] [--json]

Prints, for each ADDRESS (host:port), what kafkanat would do with it,
without dialing: the target, the routes in order and the rule, or why it
is refused. Exit status 2 for bad rules or a malformed address, else 0.

  kafkanat explain b1.abc.example.com:9093 other:9092 --rules '*.abc.example.com => 10.0.0.5'
    b1.abc.example.com:9093 => 10.0.0.5:9093 via direct (rule 1: *.abc.example.com => 10.0.0.5)
    other:9092: no rule: dialed directly

--json prints one document: {"ok": ..., "addresses": [...]}, each address
with the decision fields of probe's JSON (see "go doc
github.com/kafkanat/kafkanat/cmd/kafkanat").

Flags:
`

// ExplainReport is what explain --json prints. Fields are never renamed or
// removed; new ones may be added.
type ExplainReport struct {
	OK        bool              `json:"ok"`        // every address was explained (exit status 0)
	Addresses []AddressDecision `json:"addresses"` // in the order given
}

// AddressDecision is one address and what the rules say about it.
type AddressDecision struct {
	Address string `json:"address"` // as given
	RuleDecision
	Error string `json:"error"` // why it could not be explained (a malformed address); "" otherwise
}

func runExplain(args []string, stdout, stderr io.Writer) int {
	var (
		rf      ruleFlags
		jsonOut bool
	)
	fs := newFlagSet("explain", stderr)
	rf.register(fs)
	fs.BoolVar(&jsonOut, "json", false, "print a JSON document instead of one line per address")
	addrs, status, ok := parseFlags(fs, args, explainUsage, stdout, stderr)
	if !ok {
		return status
	}
	if len(addrs) == 0 {
		fmt.Fprintf(stderr, "kafkanat explain: no address given\nrun 'kafkanat explain -h' for usage\n")
		return exitUsage
	}
	cfg, err := rf.config()
	if err != nil {
		fmt.Fprintf(stderr, "kafkanat explain: %v\n", err)
		return exitUsage
	}
	d, err := newDialer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "kafkanat explain: %v\n", err)
		return exitUsage
	}
	defer d.Close()
	rep := ExplainReport{OK: true, Addresses: []AddressDecision{}}
	for _, addr := range addrs {
		a := AddressDecision{Address: addr}
		dec, err := d.Explain(context.Background(), addr)
		if err != nil {
			fmt.Fprintf(stderr, "kafkanat explain: %s: %v\n", addr, err)
			rep.OK = false
			a.Error = err.Error()
		}
		a.RuleDecision = ruleDecision(addr, dec, err)
		rep.Addresses = append(rep.Addresses, a)
		if err == nil && !jsonOut {
			fmt.Fprintln(stdout, dec.String())
		}
	}
	if jsonOut {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "kafkanat explain: %v\n", err)
			return exitUsage
		}
	}
	if !rep.OK {
		return exitUsage
	}
	return exitOK
}
