package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

const explainUsage = `Usage: kafkanat explain ADDRESS... [--rules TEXT | --rules-file FILE] [--via URL] [--strict]

Prints, for each ADDRESS (host:port), what kafkanat would do with it,
without dialing: the target, the routes in order and the rule, or why it
is refused. Exit status 2 for bad rules or a malformed address, else 0.

  kafkanat explain b1.abc.example.com:9093 other:9092 --rules '*.abc.example.com => 10.0.0.5'
    b1.abc.example.com:9093 => 10.0.0.5:9093 via direct (rule 1: *.abc.example.com => 10.0.0.5)
    other:9092: no rule: dialed directly

Flags:
`

func runExplain(args []string, stdout, stderr io.Writer) int {
	var rf ruleFlags
	fs := newFlagSet("explain", stderr)
	rf.register(fs)
	addrs, status, ok := parseFlags(fs, args, explainUsage, stdout, stderr)
	if !ok {
		return status
	}
	if len(addrs) == 0 {
		fmt.Fprintf(stderr, "kafkanat explain: no address given\nrun 'kafkanat explain -h' for usage\n")
		return exitUsage
	}
	d, err := rf.newDialer()
	if err != nil {
		fmt.Fprintf(stderr, "kafkanat explain: %s\n", strings.TrimPrefix(err.Error(), "kafkanat: "))
		return exitUsage
	}
	defer d.Close()
	status = exitOK
	for _, addr := range addrs {
		dec, err := d.Explain(context.Background(), addr)
		if err != nil {
			fmt.Fprintf(stderr, "kafkanat explain: %s: %v\n", addr, err)
			status = exitUsage
			continue
		}
		fmt.Fprintln(stdout, dec.String())
	}
	return status
}
