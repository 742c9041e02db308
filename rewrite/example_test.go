package rewrite_test

import (
	"errors"
	"fmt"

	"github.com/kafkanat/kafkanat/rewrite"
)

func Example() {
	rules, err := rewrite.Parse("rules", `
# Kubernetes brokers reached through one NodePort each.
kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n}
# One load balancer IP, one port per broker: keep the advertised port.
*.abc.us-west1.example.com => 10.128.0.5
# Everything else in the corporate network goes through a SOCKS5 gateway.
*.corp.example via socks5://bob:secret@gw.corp.example:1080
*.forbidden.example deny
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	table, err := rewrite.Compile(rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, addr := range []string{
		"kafka-controller-2.kafka-controller-headless.gcp.svc.cluster.local:9092",
		"b3.abc.us-west1.example.com:9095",
		"Kafka1.CORP.example:9092",
		"x.forbidden.example:9092",
		"localhost:9092",
	} {
		m, ok, err := table.Match(addr)
		switch {
		case err != nil:
			fmt.Println(err)
		case !ok:
			fmt.Printf("%s: no rule\n", addr)
		case m.Rule.Deny:
			fmt.Printf("%s: denied by rule %d\n", addr, m.Rule.Index)
		default:
			fmt.Printf("%s => %s (rule %d: %s)\n", addr, m.Target, m.Rule.Index, m.Rule)
		}
	}
	// Output:
	// kafka-controller-2.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:31092 (rule 1: kafka-controller-{n}.kafka-controller-headless.gcp.svc.cluster.local:9092 => 203.0.113.10:{31090+n})
	// b3.abc.us-west1.example.com:9095 => 10.128.0.5:9095 (rule 2: *.abc.us-west1.example.com => 10.128.0.5)
	// Kafka1.CORP.example:9092 => Kafka1.CORP.example:9092 (rule 3: *.corp.example via socks5://bob:xxxxx@gw.corp.example:1080)
	// x.forbidden.example:9092: denied by rule 4
	// localhost:9092: no rule
}

func ExampleParse_error() {
	_, err := rewrite.Parse("rules", "kafka:9092 => proxy:7092\nb{id}.x.com:9092 => proxy:{7000+n}")
	var se *rewrite.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se.Line, se.Col)
	}
	fmt.Println(err)
	// Output:
	// 2 33
	// rules line 2, column 33: undefined placeholder {n}; the pattern defines {id} (and {port} is always defined)
}

func ExampleParseMap() {
	r, err := rewrite.ParseMap("kafka:9092", "109.109.109.109")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Source)
	fmt.Println(r.String())

	_, err = rewrite.ParseMap("kafka:99999", "proxy")
	fmt.Println(err)
	// Output:
	// Map("kafka:9092", "109.109.109.109")
	// kafka:9092 => 109.109.109.109
	// Map("kafka:99999", "proxy"): advertised address: port "99999" is not a number in 1..65535
}

func ExampleTable_Match() {
	rules, _ := rewrite.Parse("rules", `
~b(\d+)\.kafka\.internal:(?P<p>\d+) => [fd00::{1}]:{p+1000}
node1:9092 => proxy:7092; node2:9092 => proxy:8092
`)
	table, _ := rewrite.Compile(rules)
	for _, addr := range []string{"b7.kafka.internal:9092", "NODE2:9092", "node3:9092", "node3"} {
		m, ok, err := table.Match(addr)
		fmt.Printf("%q %v %v\n", m.Target, ok, err)
	}
	// Output:
	// "[fd00::7]:10092" true <nil>
	// "proxy:8092" true <nil>
	// "" false <nil>
	// "" false malformed address "node3": missing port
}

func ExampleRule_String() {
	rules, _ := rewrite.Parse("rules", "b{id}.x.com:{p}=>10.0.0.5:{p}   via socks5://u:secret@gw:1080,direct")
	fmt.Println(rules[0].String())
	// Output:
	// b{id}.x.com:{p} => 10.0.0.5:{p} via socks5://u:xxxxx@gw:1080, direct
}
