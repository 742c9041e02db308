package netns_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// skipReason is set when the machine cannot build namespaces (not root,
// no iproute2); the tests then skip (TestMain fails the run under CI).
var skipReason string

// lab is the run's network: the topology, its reaper, and the services of
// the brokers' network (a DNS server and the brokers), shared by every
// test. Tests run one at a time: they share firewall tables.
type lab struct {
	topo    *netns.Topology
	reaper  *netns.Reaper
	dns     *netns.Process
	brokers *netns.Process

	mu        sync.Mutex
	topicUsed int
}

var (
	labOnce  sync.Once
	theLab   *lab
	labErr   error
	labMu    sync.Mutex // guards theLab against closeLab
	topicMax = 80
)

// getLab returns the lab, building it at the first call; it skips the test
// when the machine cannot build namespaces.
func getLab(t *testing.T) *lab {
	t.Helper()
	if skipReason != "" {
		t.Skip("netns: " + skipReason + " (under CI=true this fails)")
	}
	labOnce.Do(func() {
		l, err := buildLab()
		labMu.Lock()
		theLab, labErr = l, err
		labMu.Unlock()
	})
	if labErr != nil {
		t.Fatalf("building the lab: %v", labErr)
	}
	return theLab
}

func buildLab() (*lab, error) {
	if removed, err := netns.RemoveStale(); err != nil {
		return nil, fmt.Errorf("removing what crashed runs left: %w", err)
	} else if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "netns: removed what crashed runs left behind: %v\n", removed)
	}
	prefix := netns.Prefix(os.Getpid())
	reaper, err := netns.StartReaper(prefix)
	if err != nil {
		return nil, err
	}
	l := &lab{reaper: reaper}
	if l.topo, err = netns.Build(prefix); err != nil {
		return nil, errors.Join(err, reaper.Done())
	}
	if err := l.startServices(); err != nil {
		return nil, errors.Join(err, l.close())
	}
	return l, nil
}

// startServices starts the brokers' network's DNS server and brokers, each
// a re-execution of this binary inside the brokers' namespace.
func (l *lab) startServices() error {
	var err error
	if l.dns, err = startService(l.topo.Brokers, "dns", nil); err != nil {
		return err
	}
	topics := make([]string, topicMax)
	for i := range topics {
		topics[i] = fmt.Sprintf("t%03d", i)
	}
	l.brokers, err = startService(l.topo.Brokers, "brokers", brokersSpec{Topics: topics, Partitions: partitions})
	return err
}

// closeLab removes the lab if it was built.
func closeLab() error {
	labMu.Lock()
	defer labMu.Unlock()
	if theLab == nil {
		return nil
	}
	err := theLab.close()
	theLab = nil
	return err
}

func (l *lab) close() error {
	var errs []error
	for _, p := range []*netns.Process{l.brokers, l.dns} {
		if p != nil {
			if err := p.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w; output:\n%s", p.Name, err, p.Output()))
			}
		}
	}
	if l.topo != nil {
		errs = append(errs, l.topo.Close())
	}
	errs = append(errs, l.reaper.Done())
	return errors.Join(errs...)
}

// topic returns a topic no other test of the run has used (the brokers
// were started with topicMax of them, partitions each).
func (l *lab) topic(t *testing.T) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.topicUsed >= topicMax {
		t.Fatalf("all %d topics the brokers were started with are used; raise topicMax", topicMax)
	}
	l.topicUsed++
	return fmt.Sprintf("t%03d", l.topicUsed-1)
}

// specEnv carries a role's JSON spec to the re-executed binary.
const specEnv = "KAFKANAT_NETNS_SPEC"

// startRole starts this test binary inside namespace ns playing role,
// with spec (JSON-encoded) in its environment.
func startRole(ns, role string, spec any, onLine func(string)) (*netns.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	parent, err := netns.ParentNetEnv()
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), netns.RoleEnv+"="+role, parent)
	if spec != nil {
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		env = append(env, specEnv+"="+string(b))
	}
	return netns.Start(netns.Spec{Name: role, NS: ns, Bin: self, Env: env, OnLine: onLine})
}

// startService starts a role that prints "ready" once it serves, and
// waits for that line.
func startService(ns, role string, spec any) (*netns.Process, error) {
	ready := make(chan struct{})
	var once sync.Once
	p, err := startRole(ns, role, spec, func(line string) {
		if line == "ready" {
			once.Do(func() { close(ready) })
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
		return p, nil
	case <-p.Exited():
		return nil, fmt.Errorf("%s exited before it was ready (%v); output:\n%s", role, p.Err(), p.Output())
	case <-time.After(time.Minute):
		p.Stop()
		return nil, fmt.Errorf("%s not ready after a minute; output:\n%s", role, p.Output())
	}
}

// needBinary returns the path of a peer program, or skips the test (fails
// it under CI=true, where .ci/run installs every peer).
func needBinary(t *testing.T, name, debPackage string) string {
	t.Helper()
	p, err := netns.Binary(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (Debian package %s)", name, debPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; .ci/run must install it")
	}
	t.Skip(msg)
	return ""
}

// rule adds an iptables rule in ns for the rest of the test.
func rule(t *testing.T, ns, table, chain string, spec ...string) *netns.Rule {
	t.Helper()
	r, err := netns.Insert(ns, table, chain, spec...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Delete(); err != nil {
			t.Errorf("removing %s: %v", r, err)
		}
	})
	return r
}
