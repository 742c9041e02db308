// Command stats-expvar publishes kafkanat's per-route counters with the
// standard library's expvar, next to the Go runtime's, and logs every dial
// decision with log/slog. It runs a franz-go producer against an embedded
// hidden cluster, then prints the published JSON.
//
//	go run ./examples/stats-expvar                      # print once and exit
//	go run ./examples/stats-expvar -http 127.0.0.1:8080 # also serve /debug/vars
package main

import (
	"context"
	"encoding/json"
	"expvar"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkanat/kafkanat"
	"github.com/kafkanat/kafkanat/dialer"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

func main() {
	httpAddr := flag.String("http", "", "serve expvar's /debug/vars on this address until interrupted")
	flag.Parse()
	if err := run(*httpAddr); err != nil {
		fmt.Fprintln(os.Stderr, "stats-expvar:", err)
		os.Exit(1)
	}
}

func run(httpAddr string) error {
	// The demo stays on this machine: unknown names fail in-process
	// instead of at a DNS server.
	net.DefaultResolver = kafkanattest.OfflineResolver()

	cluster, err := kafkanattest.NewCluster(kafkanattest.Topics(3, "events"))
	if err != nil {
		return err
	}
	defer cluster.Close()

	var closed expvar.Int // a Hook can feed any metrics system; here: closed connections
	d, err := kafkanat.NewDialer(
		kafkanat.Rules(cluster.Rules()),
		kafkanat.Logger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		kafkanat.Hook(dialer.HookFuncs{Close: func(dialer.CloseEvent) { closed.Add(1) }}),
	)
	if err != nil {
		return err
	}
	defer d.Close()
	expvar.Publish("kafkanat", expvar.Func(func() any { return d.Stats() }))
	expvar.Publish("kafkanat_closed_conns", &closed)

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Advertised()[0]), kgo.Dialer(d.DialContext),
		kgo.DefaultProduceTopic("events"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "event %d", i)}).FirstErr(); err != nil {
			cl.Close()
			return err
		}
	}
	cl.Close()

	var pretty any
	if err := json.Unmarshal([]byte(expvar.Get("kafkanat").String()), &pretty); err != nil {
		return err
	}
	out, _ := json.MarshalIndent(pretty, "", "  ")
	fmt.Printf("expvar \"kafkanat\":\n%s\nclosed connections: %s\n", out, closed.String())

	if httpAddr == "" {
		return nil
	}
	fmt.Printf("serving http://%s/debug/vars\n", httpAddr)
	return http.ListenAndServe(httpAddr, nil)
}
