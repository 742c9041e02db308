package kafkanat_test

import (
	"errors"
	"fmt"
	"net"

	"github.com/kafkanat/kafkanat"
)

// New returns a DialFunc for any Go Kafka client. Here it reaches a broker
// that advertises a name no resolver knows.
func ExampleNew() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // the broker's real listener
	defer ln.Close()

	dial := kafkanat.New(kafkanat.Map("b1.kafka.internal.invalid:9092", ln.Addr().String()))
	// kgo.NewClient(kgo.SeedBrokers("b1.kafka.internal.invalid:9092"), kgo.Dialer(dial))
	conn, err := dial.Dial("tcp", "b1.kafka.internal.invalid:9092")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	info, _ := kafkanat.InfoOf(conn)
	fmt.Println(info.Address, "rule", info.Rule, "via", info.Route)
	// Output: b1.kafka.internal.invalid:9092 rule 1 via direct
}

// Map sends one advertised address to another: scenario 1, a reverse
// tunnel that exposes the office broker on a public server.
func ExampleMap() {
	dec, _ := kafkanat.Explain("kafka:9092", kafkanat.Map("kafka:9092", "109.109.109.109:9092"))
	fmt.Println(dec)
	// Output: kafka:9092 => 109.109.109.109:9092 via direct (rule 1: kafka:9092 => 109.109.109.109:9092)
}

// Rules take the rule language: here scenario 2's NodePort per broker and
// scenario 3's one endpoint IP that keeps the advertised port.
func ExampleRules() {
	opt := kafkanat.Rules(`
		kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
		*.abc.us-west1.example.com => 10.128.0.5   # the port is kept
	`)
	for _, addr := range []string{
		"kafka-controller-1.kafka-controller-headless.gcp.svc.cluster.local:9092",
		"b2.abc.us-west1.example.com:9094",
	} {
		dec, _ := kafkanat.Explain(addr, opt)
		fmt.Println(dec.Target, "by rule", dec.Rule)
	}
	// Output:
	// 203.0.113.10:31091 by rule 1
	// 10.128.0.5:9094 by rule 2
}

// Via sets the default route: every address no rule routes itself goes
// through a SOCKS5 gateway, which resolves the names. Passwords are never
// printed.
func ExampleVia() {
	dec, _ := kafkanat.Explain("kafka-0.kafka.svc.cluster.local:9092",
		kafkanat.Via("socks5://kafka:s3cret@gateway.invalid:1080"))
	fmt.Println(dec)
	// Output: kafka-0.kafka.svc.cluster.local:9092: no rule: dialed via socks5://kafka:xxxxx@gateway.invalid:1080
}

// Explain shows the decision for an address without dialing it.
func ExampleExplain() {
	opts := []kafkanat.Option{
		kafkanat.Rules(`
			node1:9092 => proxy.invalid:7092
			*.internal.invalid via socks5://gateway.invalid:1080, direct
			* deny`),
	}
	for _, addr := range []string{"node1:9092", "b1.internal.invalid:9092", "elsewhere.invalid:9092"} {
		dec, _ := kafkanat.Explain(addr, opts...)
		fmt.Println(dec)
	}
	// Output:
	// node1:9092 => proxy.invalid:7092 via direct (rule 1: node1:9092 => proxy.invalid:7092)
	// b1.internal.invalid:9092 via socks5://gateway.invalid:1080, direct (rule 2: *.internal.invalid via socks5://gateway.invalid:1080, direct)
	// elsewhere.invalid:9092: refused by rule 3 (* deny)
}

// Strict refuses every address no rule covers: kafkanat never dials where
// the operator did not say it may.
func ExampleStrict() {
	dial := kafkanat.New(kafkanat.Strict(), kafkanat.Map("*.kafka.internal.invalid", "127.0.0.1"))
	_, err := dial.Dial("tcp", "unexpected.example.invalid:9092")
	fmt.Println(errors.Is(err, kafkanat.ErrNoRoute))
	fmt.Println(err)
	// Output:
	// true
	// kafkanat: dial unexpected.example.invalid:9092 (no rule matched): no route: no rule matches and the dialer is strict; add a rule for unexpected.example.invalid:9092
}
