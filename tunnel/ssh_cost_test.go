package tunnel_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/internal/testnet"
	"github.com/kafkanat/kafkanat/tunnel"
)

// helperEnv makes the test binary run TestSSHHelperProcess as an SSH
// bastion for the cost tests, so that the bastion's goroutines and memory
// stay out of the process measured.
const helperEnv = "KAFKANAT_TUNNEL_SSH_HELPER"

// TestSSHHelperProcess is not a test: run by remoteBastion in a child
// process, it serves an in-process SSH server (no authentication), a
// target that holds every conn open and one that sends zeros to every conn
// as fast as it is read, prints the three addresses, and serves until its
// stdin closes.
func TestSSHHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("the SSH bastion of the cost tests, run in a child process")
	}
	s, err := testkit.NewSSHServer()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := hold.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // held until the client closes it
		}
	}()
	source, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	go func() {
		zeros := make([]byte, 64<<10)
		for {
			c, err := source.Accept()
			if err != nil {
				return
			}
			go func() {
				for {
					if _, err := c.Write(zeros); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	fmt.Println(s.Addr(), hold.Addr(), source.Addr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// remoteBastion starts TestSSHHelperProcess in a child process and returns
// the SSH server's address, that of a target that holds conns open, and
// that of a target that streams zeros.
func remoteBastion(tb testing.TB) (bastion, target, source string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSSHHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 {
		tb.Fatalf("the helper bastion said %q, %v", line, err)
	}
	return f[0], f[1], f[2]
}

var insecureConfig = &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey()}

// rawClient is an x/crypto SSH client of bastion, used as by hand.
func rawClient(tb testing.TB, bastion string) *ssh.Client {
	tb.Helper()
	c, err := ssh.Dial("tcp", bastion, insecureConfig)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// connCost is what n open conns cost the process, per conn.
type connCost struct {
	goroutines float64
	heap       float64 // live heap bytes, after a GC
	stack      float64 // goroutine stack bytes
}

func (c connCost) memory() float64 { return c.heap + c.stack }

func (c connCost) String() string {
	return fmt.Sprintf("%.2f goroutines, %.0f B heap + %.0f B stacks = %.1f KiB", c.goroutines, c.heap, c.stack, c.memory()/1024)
}

type memSnapshot struct {
	goroutines   int
	heap, stacks uint64
}

func snapshot() memSnapshot {
	var ms runtime.MemStats
	// Settle: goroutines that are ending, finalizers, the sync.Pools.
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return memSnapshot{runtime.NumGoroutine(), ms.HeapAlloc, ms.StackInuse}
}

// measureConns opens n conns with dial, each with a Read pending when
// pending is set (as a Kafka client keeps one), and returns their cost.
// The test's own reading goroutine (one per conn) is left out.
func measureConns(tb testing.TB, n int, pending bool, dial func() (net.Conn, error)) connCost {
	tb.Helper()
	before := snapshot()
	conns := make([]net.Conn, 0, n)
	var wg sync.WaitGroup
	for range n {
		c, err := dial()
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c)
		if pending {
			wg.Go(func() { c.Read(make([]byte, 4)) })
		}
	}
	time.Sleep(50 * time.Millisecond) // every Read is waiting
	after := snapshot()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	readers := 0.0
	if pending {
		readers = 1
	}
	return connCost{
		goroutines: float64(after.goroutines-before.goroutines)/float64(n) - readers,
		heap:       float64(int64(after.heap)-int64(before.heap)) / float64(n),
		stack:      float64(int64(after.stacks)-int64(before.stacks)) / float64(n),
	}
}

// TestSSHPerConnCost opens 200 conns through one SSH connection, with
// x/crypto's Client.Dial (what a program without kafkanat does) and with
// SSHDialer, and compares what each open conn costs the client process:
// goroutines, live heap and goroutine stacks. The bastion runs in a child
// process. It asserts the bounds, with a Read pending on every
// conn as a Kafka client keeps one: at most one goroutine more than
// x/crypto, at most 1.5x its memory.
func TestSSHPerConnCost(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,200 SSH channels")
	}
	bastion, target, _ := remoteBastion(t)
	raw := rawClient(t, bastion)
	d, err := tunnel.NewSSHConfig(bastion, insecureConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	rawDial := func() (net.Conn, error) { return raw.Dial("tcp", target) }
	ourDial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return d.DialContext(ctx, "tcp", target)
	}
	// Warm both paths up (the SSH connection, the pools).
	for _, dial := range []func() (net.Conn, error){rawDial, ourDial} {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	const n = 200
	for _, pending := range []bool{true, false} {
		var rawCosts, ourCosts []connCost
		for range 3 { // interleaved; the median of each is kept
			rawCosts = append(rawCosts, measureConns(t, n, pending, rawDial))
			ourCosts = append(ourCosts, measureConns(t, n, pending, ourDial))
		}
		r, o := medianCost(rawCosts), medianCost(ourCosts)
		state := "a Read pending"
		if !pending {
			state = "no Read pending"
		}
		t.Logf("per open conn, %s:\n  x/crypto Client.Dial: %v\n  tunnel.SSHDialer:     %v\n  ratio: %+.2f goroutines, %.2fx memory",
			state, r, o, o.goroutines-r.goroutines, o.memory()/r.memory())
		if pending {
			if o.goroutines > r.goroutines+1.05 {
				t.Errorf("SSHDialer conns run %.2f goroutines each, x/crypto's %.2f: want at most one more", o.goroutines, r.goroutines)
			}
			if o.memory() > 1.5*r.memory() {
				t.Errorf("SSHDialer conns cost %.1f KiB each, x/crypto's %.1f KiB: want at most 1.5x", o.memory()/1024, r.memory()/1024)
			}
		}
	}
}

func medianCost(cs []connCost) connCost {
	pick := func(f func(connCost) float64) float64 {
		v := make([]float64, len(cs))
		for i, c := range cs {
			v[i] = f(c)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return connCost{
		goroutines: pick(func(c connCost) float64 { return c.goroutines }),
		heap:       pick(func(c connCost) float64 { return c.heap }),
		stack:      pick(func(c connCost) float64 { return c.stack }),
	}
}

// BenchmarkSSHOpen compares opening (and closing) a channel to a target
// through one established SSH connection: x/crypto's Client.Dial by hand,
// and SSHDialer.DialContext with a 10s context as a Kafka client dials.
// The bastion runs in a child process. The paired variant alternates the
// two in blocks and reports their ratio.
func BenchmarkSSHOpen(b *testing.B) {
	bastion, target, _ := remoteBastion(b)
	raw := rawClient(b, bastion)
	d, err := tunnel.NewSSHConfig(bastion, insecureConfig, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	rawOpen := func() {
		c, err := raw.Dial("tcp", target)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	ourOpen := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := d.DialContext(ctx, "tcp", target)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.Run("x-crypto-Client.Dial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rawOpen()
		}
	})
	b.Run("tunnel.SSHDialer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ourOpen()
		}
	})
	b.Run("paired", func(b *testing.B) {
		const block = 16
		var rawT, ourT time.Duration
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			if i%(2*block) < block {
				rawOpen()
				rawT += time.Since(start)
			} else {
				ourOpen()
				ourT += time.Since(start)
			}
		}
		if rawT > 0 && ourT > 0 {
			b.ReportMetric(float64(ourT)/float64(rawT), "ratio")
		}
	})
}

// BenchmarkSSHRead reads a stream of zeros through the SSH connection, in
// 1 MiB ReadFulls (a Kafka client reading a fetch response): with
// x/crypto's Client.Dial conn as is, and with SSHDialer's conn, whose
// deadlines cost a goroutine hand-off and a copy per read of the channel.
// The bastion runs in a child process; the CPU time of this one (reported
// per MiB) is the client's.
func BenchmarkSSHRead(b *testing.B) {
	bastion, _, source := remoteBastion(b)
	raw := rawClient(b, bastion)
	d, err := tunnel.NewSSHConfig(bastion, insecureConfig, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	// The same over a forward dialer whose conns are not *net.TCPConn:
	// the route cannot re-arm TCP_QUICKACK, so this is what quick ACKs
	// cost a bulk read from a bastion that sends promptly.
	plain, err := tunnel.NewSSHConfig(bastion, insecureConfig, testnet.DialFunc(func(ctx context.Context, network, address string) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, address)
		return struct{ net.Conn }{c}, err
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plain.Close() })
	for _, v := range []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"x-crypto-Client.Dial", func() (net.Conn, error) { return raw.Dial("tcp", source) }},
		{"tunnel.SSHDialer", func() (net.Conn, error) { return d.DialContext(context.Background(), "tcp", source) }},
		{"tunnel.SSHDialer-no-quickack", func() (net.Conn, error) { return plain.DialContext(context.Background(), "tcp", source) }},
	} {
		b.Run(v.name, func(b *testing.B) {
			c, err := v.dial()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			cpu := processCPU()
			for b.Loop() {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			if cpu := processCPU() - cpu; cpu > 0 {
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/MB")
			}
		})
	}
}
