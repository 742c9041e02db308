package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK          = 0 // every broker (probe) or address (explain) was fine
	exitUnreachable = 1 // the bootstrap or some broker cannot be reached
	exitUsage       = 2 // bad flags or configuration
)

const usage = `kafkanat checks and explains how kafkanat rules route Kafka connections.

Usage:
  kafkanat probe --bootstrap HOST:PORT [flags]
  kafkanat explain ADDRESS... [flags]
  kafkanat help [probe|explain]

probe dials the bootstrap address through the rules, fetches metadata, and
checks every broker over its own connection: an ApiVersions round trip, and
proof that the endpoint the rules reached is that broker (a rule that sends
one broker's name to another's endpoint is reported by number). One row per
broker: node id, advertised address, rule, target, route, status, dial time,
round-trip time, and the time of each stage (name resolution, TCP connect,
proxy handshake, SSH channel, TLS, SASL, Kafka requests); the stage that
failed is named. Exit status 0 only if every broker answered as itself.

explain prints, for each address, the rule, target and routes the rules
give it, without dialing (--json for a document).

Rule flags (probe and explain):
  --rules TEXT         rules in the kafkanat rule language ("a => b; c via socks5://gw:1080")
  --rules-file FILE    rules read from FILE (instead of --rules)
  --via URL            default route for rules without "via" and unmatched addresses:
                       direct, socks5://[user:pass@]host:port, socks5h://, http://, https://,
                       ssh://user[:pass]@host:22[?key=PATH&known_hosts=PATH];
                       several, comma-separated, are tried in order
  --strict             refuse addresses no rule matches instead of dialing them directly

probe flags:
  --bootstrap HOST:PORT    the address to fetch metadata from (required)
  --timeout D              time allowed for each dial, all its routes together, and again
                           for the Kafka requests once connected (default 10s)
  --tls                    TLS to the brokers, verifying the ADVERTISED name (implied by --tls-*)
  --tls-ca FILE            PEM certificates to trust instead of the system's
  --tls-server-name NAME   verify and send NAME instead of the advertised host
  --tls-insecure-skip-verify  do not verify the brokers' certificates
  --sasl-mechanism M       PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
  --sasl-user USER         SASL user name
  --sasl-password-env VAR  environment variable holding the SASL password
  --suggest                print rules covering the brokers no rule matched: one
                           "ADDRESS => HOST:PORT" line per broker and, for brokers sharing
                           a domain, wildcard alternatives ("*.DOMAIN => HOST" keeping
                           each port, "name-{n}.DOMAIN:PORT => HOST:{BASE+n}" for numbered
                           names, "*.DOMAIN via socks5://GATEWAY:1080"); replace the
                           upper-case words
  --json                   print a JSON document instead of the table (fields are
                           documented in "go doc github.com/kafkanat/kafkanat/cmd/kafkanat")

explain flags:
  --json                   print a JSON document instead of one line per address

Examples:
  # Brokers advertise names that resolve only inside a Kubernetes cluster:
  kafkanat probe --bootstrap 203.0.113.10:31090 \
    --rules 'kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}'

  # Everything through a SOCKS5 gateway that resolves the cluster's names, over TLS and SASL:
  KAFKA_PASSWORD=... kafkanat probe --bootstrap kafka-0.kafka.svc.cluster.local:9093 \
    --via socks5://gateway:1080 --tls --tls-ca ca.pem \
    --sasl-mechanism SCRAM-SHA-512 --sasl-user app --sasl-password-env KAFKA_PASSWORD

  # Through an SSH bastion that resolves the brokers' names:
  kafkanat probe --bootstrap kafka-0.kafka.internal:9092 \
    --via 'ssh://kafka@bastion.example.com:22?key=~/.ssh/id_ed25519'

  # Which brokers need a rule, and what could it look like:
  kafkanat probe --bootstrap kafka.example.com:9092 --suggest

  # Where would these addresses go?
  kafkanat explain node1:9092 node2:9092 --rules 'node1:9092 => proxy:7092; node2:9092 => proxy:8092'

Exit status: 0 all reachable, each broker as itself; 1 the bootstrap or some
broker unreachable, failing or answering as another broker; 2 usage or
configuration error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name) and
// returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "probe":
		return runProbe(rest, stdout, stderr)
	case "explain":
		return runExplain(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return runHelp(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "kafkanat: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	switch args[0] {
	case "probe", "explain":
		// The command's own -h prints its flags to stdout.
		return run([]string{args[0], "-h"}, stdout, stderr)
	}
	fmt.Fprintf(stderr, "kafkanat help: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// parseInterspersed parses args with fs, allowing flags after positional
// arguments ("explain ADDR --rules ..."), which flag.FlagSet.Parse alone
// does not. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) (positional []string, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a flag set for a command. Parse errors are printed
// to stderr; usage is printed by parseFlags.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kafkanat "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args with fs (flags and positional arguments in any
// order). On -h it prints usageText and the flags to stdout and returns
// ok false with status 0; on a bad flag, ok false with status 2.
func parseFlags(fs *flag.FlagSet, args []string, usageText string, stdout, stderr io.Writer) (positional []string, status int, ok bool) {
	positional, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil, exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "run '%s -h' for usage\n", fs.Name())
		return nil, exitUsage, false
	}
	return positional, exitOK, true
}
