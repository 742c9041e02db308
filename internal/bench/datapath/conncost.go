package main

import (
	"fmt"
	"net"
	"os"
	osuser "os/user"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// currentUser is the name of the user running the harness.
func currentUser() (string, error) {
	u, err := osuser.Current()
	if err != nil {
		return "", fmt.Errorf("the current user: %w", err)
	}
	return u.Username, nil
}

// rawSSHClient logs in to b with golang.org/x/crypto/ssh alone, as a
// program without kafkanat would.
func rawSSHClient(b *sshBastion) (*ssh.Client, error) {
	pemBytes, err := os.ReadFile(b.keyFile)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, err
	}
	hostKeys, err := knownhosts.New(b.knownHosts)
	if err != nil {
		return nil, err
	}
	return ssh.Dial("tcp", b.addr, &ssh.ClientConfig{
		User: b.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// known_hosts holds the bastion's Ed25519 key only.
		HostKeyCallback: hostKeys, HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout: 10 * time.Second,
	})
}

// goCost is what an open conn costs this process.
type goCost struct {
	goroutines   float64
	heap, stacks float64 // bytes
}

func (c goCost) bytes() float64 { return c.heap + c.stacks }

func (c goCost) String() string {
	return fmt.Sprintf("%.2f goroutines, %.1f KiB (%.0f B heap + %.0f B stacks) per open conn", c.goroutines, c.bytes()/1024, c.heap, c.stacks)
}

type goSnapshot struct {
	goroutines   int
	heap, stacks uint64
}

func takeGoSnapshot() goSnapshot {
	for range 3 { // let ending goroutines end and the heap settle
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return goSnapshot{runtime.NumGoroutine(), ms.HeapAlloc, ms.StackInuse}
}

// goConnCost opens n conns with dial, each with a 4-byte Read pending (a
// Kafka client waiting for the size of its next response), and returns the
// cost of one, leaving out the reading goroutine itself.
func goConnCost(n int, dial func() (net.Conn, error)) (goCost, error) {
	before := takeGoSnapshot()
	conns := make([]net.Conn, 0, n)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for range n {
		c, err := dial()
		if err != nil {
			return goCost{}, err
		}
		conns = append(conns, c)
		wg.Go(func() { c.Read(make([]byte, 4)) })
	}
	time.Sleep(50 * time.Millisecond) // every Read is waiting
	after := takeGoSnapshot()
	return goCost{
		goroutines: float64(after.goroutines-before.goroutines)/float64(n) - 1,
		heap:       float64(int64(after.heap)-int64(before.heap)) / float64(n),
		stacks:     float64(int64(after.stacks)-int64(before.stacks)) / float64(n),
	}, nil
}

// forwardConnRSS opens n conns through the "ssh -L" forward f listening on
// port and returns how much the ssh process's resident memory grew per
// conn.
func forwardConnRSS(f *forwarder, port, n int) (float64, error) {
	pid := f.cmd.Process.Pid
	before, err := processRSS(pid)
	if err != nil {
		return 0, err
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
	}
	time.Sleep(500 * time.Millisecond) // ssh opens a channel per conn
	after, err := processRSS(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

// openTimes times channel opens (each followed by a close) with a and b,
// alternating blocks of 10, and returns the median time per open of each.
func openTimes(n int, a, b func() (net.Conn, error)) (time.Duration, time.Duration, error) {
	const block = 10
	var ta, tb []time.Duration
	for range max(n/block, 1) {
		for i, dial := range []func() (net.Conn, error){a, b} {
			start := time.Now()
			for range block {
				c, err := dial()
				if err != nil {
					return 0, 0, err
				}
				c.Close()
			}
			per := time.Since(start) / block
			if i == 0 {
				ta = append(ta, per)
			} else {
				tb = append(tb, per)
			}
		}
	}
	slices.Sort(ta)
	slices.Sort(tb)
	return ta[len(ta)/2], tb[len(tb)/2], nil
}
