// Command datapath measures what kafkanat costs on the data path, with real
// Kafka clients against embedded clusters, side by side in one run:
//
//	go run ./internal/bench/datapath [-rounds 20] [-duration 300ms] [-size 1024] [-variants ...]
//
// Each variant is a way for the clients to reach the brokers of its own
// 3-broker kfake cluster:
//
//	direct             the brokers advertise their real addresses; no kafkanat
//	kafkanat           hidden brokers, a kafkanat mapping rule per broker
//	direct-again       a second direct cluster, measured like the others: the noise floor
//	socks5-microsocks  kafkanat via SOCKS5 through microsocks (Debian)
//	socks5-dante       kafkanat via SOCKS5 through danted (Debian dante-server)
//	socks5-inproc      kafkanat via SOCKS5 through kafkanattest's in-process server (not run by default)
//	socat              an external TCP hop: one socat forwarder per broker, which the brokers advertise
//	socat-nodelay      the same with TCP_NODELAY on socat's sockets, the hop at its best
//	ssh                kafkanat via ssh:// through OpenSSH's sshd (not run by default)
//	ssh-no-quickack    the same without TCP_QUICKACK on the connection to sshd (not run by default)
//	ssh-L, ssh-L-gcm   OpenSSH's "ssh -N -L" per broker, default cipher and x/crypto's (not run by default)
//	ssh-go             kafkanat via ssh:// through kafkanattest's Go SSH server (not run by default)
//	ssh-go-no-quickack the same without TCP_QUICKACK (not run by default)
//
// The SSH comparisons are meant to run with -broker-process, which starts
// every cluster (and the Go bastion) in a child process, so that this
// process's CPU time is the clients' alone:
//
//	go run ./internal/bench/datapath -broker-process -variants direct,ssh,ssh-no-quickack,ssh-L,ssh-L-gcm,ssh-go,ssh-go-no-quickack
//
// Every variant gets a franz-go client and a sarama SyncProducer, connected
// once. Each round then runs four measurements, each on every variant in
// turn (A B C ... A B C ...): franz-go's produce throughput (MB/s of record
// values, asynchronous produces for -duration, then a flush; random
// uncompressed records), franz-go's synchronous produce latency (p50 and
// p99 of single-record ProduceSync calls for -latency-duration), the
// same two for sarama, and franz-go's consume throughput (MB/s of record
// values fetched for -duration from a topic the brokers answer with
// canned random records). CPU time is counted per MB on the client side:
// this process, plus the ssh processes of the ssh -L variants. The next round starts with the next variant, so that
// every variant runs in every position equally often. The brokers
// acknowledge records without storing them (kafkanattest.DiscardProduce), so
// memory stays flat however long the run.
//
// It prints, per measure, the median over rounds with the interquartile
// range, and the ratio to direct computed within each round (median and
// interquartile range), then checks the goals of the performance issue. A variant whose peer
// binary is missing is skipped with a message. The harness only dials
// 127.0.0.1 and never resolves a name through DNS.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

func main() {
	runBrokerdIfAsked()
	os.Exit(realMain())
}

// realMain runs the harness and returns the exit code: 0, 1 when a
// measurement failed, 2 when the harness could not run.
func realMain() int {
	cfg := defaultConfig()
	flag.IntVar(&cfg.rounds, "rounds", cfg.rounds, "rounds; every round measures every variant once")
	flag.DurationVar(&cfg.duration, "duration", cfg.duration, "length of each throughput burst (one per client, variant and round)")
	flag.DurationVar(&cfg.latencyFor, "latency-duration", cfg.latencyFor, "length of each latency burst of synchronous produces (at least one produce)")
	flag.IntVar(&cfg.size, "size", cfg.size, "record value size in bytes")
	flag.IntVar(&cfg.partitions, "partitions", cfg.partitions, "partitions of the topic, led by the brokers in turn")
	flag.IntVar(&cfg.brokers, "brokers", cfg.brokers, "brokers per cluster")
	flag.BoolVar(&cfg.brokerProcess, "broker-process", cfg.brokerProcess, "run each cluster (and the Go bastion of ssh-go) in a child process, so that CPU time is the clients' alone")
	flag.IntVar(&cfg.connCost, "conn-cost", cfg.connCost, "after the rounds, open this many conns through the sshd of the ssh variant and report what each costs (0: skip)")
	variants := flag.String("variants", strings.Join(cfg.variants, ","), "comma-separated variants, in the order the first round runs them: "+strings.Join(variantNames(), ", "))
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	cfg.variants = strings.Split(*variants, ",")
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "datapath:", err)
		return 2
	}

	// kafkanat dials only mapped names; should anything try to resolve a
	// name, it fails here instead of asking the machine's DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "datapath:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "datapath:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tb := newPeerTB(os.Stderr)
	defer tb.close()
	start := time.Now()
	res, err := run(ctx, cfg, tb, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "datapath:", err)
		return 2
	}
	report(os.Stdout, cfg, res, time.Since(start))
	if len(res.failures) > 0 {
		return 1
	}
	return 0
}
