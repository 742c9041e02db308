package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// consumeTopic is the topic the consume measurement reads: every fetch is
// answered from one canned batch of random records (kfake.SyntheticFetch),
// so it never runs dry and the brokers store nothing.
const consumeTopic = "consume"

// clusterSpec is one variant's cluster: how many brokers, where they
// listen and what they advertise. It travels to a broker process as JSON.
type clusterSpec struct {
	Brokers    int      `json:"brokers"`
	Partitions int      `json:"partitions"`
	RecordSize int      `json:"recordSize"` // bytes per value of the consume topic's records
	Ports      []int    `json:"ports"`      // listen on these; nil: free ports
	Advertise  []string `json:"advertise"`  // advertised host:port per broker; nil: hidden names
	// SSHServer starts kafkanattest's in-process SSH server (a Go
	// bastion, which sets TCP_NODELAY) beside the brokers, reaching them at
	// their real addresses.
	SSHServer bool `json:"sshServer"`
}

// clusterInfo is what a started cluster reports.
type clusterInfo struct {
	Addrs         []string `json:"addrs"`      // where each broker listens
	Advertised    []string `json:"advertised"` // what each advertises
	SSHAddr       string   `json:"sshAddr"`    // the Go bastion, when asked for
	SSHKnownHosts string   `json:"sshKnownHosts"`
}

// cluster is a running cluster, in this process or in a broker process.
type cluster struct {
	clusterInfo
	close func()
}

// startCluster starts spec's cluster in this process: kfake brokers on
// 127.0.0.1 with topics "bench" (produced to, records discarded) and
// consumeTopic (synthetic), partition p of each led by broker p mod n.
func startCluster(spec clusterSpec) (*cluster, error) {
	adv := spec.Advertise
	if adv == nil {
		for i := range spec.Brokers {
			adv = append(adv, fmt.Sprintf("b%d.kafka.internal.invalid:9092", i))
		}
	}
	if len(adv) != spec.Brokers || (spec.Ports != nil && len(spec.Ports) != spec.Brokers) {
		return nil, fmt.Errorf("cluster of %d brokers with %d ports and %d advertised addresses", spec.Brokers, len(spec.Ports), len(adv))
	}
	var (
		mu    sync.Mutex
		addrs []string
	)
	listen := func(network, address string) (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(addrs) == len(adv) {
			return nil, fmt.Errorf("kfake asked for listener %d of %d", len(addrs)+1, len(adv))
		}
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, ln.Addr().String())
		return advertisedListener{ln, adv[len(addrs)-1]}, nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(spec.Brokers),
		kfake.ListenFn(listen),
		kfake.SeedTopics(int32(spec.Partitions), topic, consumeTopic),
		kfake.BlackholeProduce(),
		kfake.SyntheticFetch(kfake.SyntheticBatch{RecordBytes: spec.RecordSize, RandomFrac: 1}),
	}
	if spec.Ports != nil {
		opts = append(opts, kfake.Ports(spec.Ports...))
	}
	kf, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting kfake: %w", err)
	}
	c := &cluster{clusterInfo: clusterInfo{Addrs: addrs, Advertised: adv}, close: kf.Close}
	for _, t := range []string{topic, consumeTopic} {
		for p := range spec.Partitions {
			if err := kf.MoveTopicPartition(t, int32(p), int32(p%spec.Brokers)); err != nil {
				kf.Close()
				return nil, fmt.Errorf("leader of %s/%d: %w", t, p, err)
			}
		}
	}
	if spec.SSHServer {
		// No authentication: it listens on 127.0.0.1 for this run only.
		srv, err := kafkanattest.NewSSHServer()
		if err != nil {
			kf.Close()
			return nil, err
		}
		c.SSHAddr, c.SSHKnownHosts = srv.Addr(), srv.KnownHosts()
		c.close = func() {
			srv.Close()
			kf.Close()
		}
	}
	return c, nil
}

// advertisedListener makes kfake advertise a chosen address: it reports
// the address of a broker's listener as ln.Addr().String().
type advertisedListener struct {
	net.Listener
	adv string
}

func (l advertisedListener) Addr() net.Addr { return advertisedAddr(l.adv) }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// brokerdEnv holds the clusterSpec, as JSON, of a harness process started
// as a broker process.
const brokerdEnv = "KAFKANAT_DATAPATH_BROKERD"

// runBrokerdIfAsked runs this process as a broker process when brokerdEnv
// is set (main and TestMain call it first) and then exits: it starts the
// cluster, writes its clusterInfo as one JSON line to stdout, and serves
// until stdin closes.
func runBrokerdIfAsked() {
	raw := os.Getenv(brokerdEnv)
	if raw == "" {
		return
	}
	var spec clusterSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "brokerd: bad spec:", err)
		os.Exit(2)
	}
	c, err := startCluster(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "brokerd:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(c.clusterInfo); err != nil {
		os.Exit(1)
	}
	io.Copy(io.Discard, os.Stdin)
	c.close()
	os.Exit(0)
}

// startBrokerProcess starts spec's cluster in a child process (this
// program again, see runBrokerdIfAsked), so that the brokers' CPU is not
// this process's.
func startBrokerProcess(spec clusterSpec) (*cluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), brokerdEnv+"="+string(js))
	var stderr testnet.SyncBuffer
	cmd.Stderr = &stderr
	setProcAttr(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a broker process: %w", err)
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			kill(cmd)
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var info clusterInfo
	if err == nil {
		err = json.Unmarshal(line, &info)
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("broker process: %v; its output: %s", err, stderr.String())
	}
	if len(info.Addrs) != spec.Brokers {
		stop()
		return nil, errors.New("broker process reported no brokers")
	}
	return &cluster{clusterInfo: info, close: stop}, nil
}
