package netns_test

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat/internal/netns"
	"github.com/kafkanat/kafkanat/kafkanattest"
)

// TestMain runs a role when the binary is re-executed inside a namespace
// (see roles_test.go); otherwise it runs the tests, then removes the lab
// and checks that the root namespace is as it was and no goroutine is left.
func TestMain(m *testing.M) {
	switch role := os.Getenv(netns.RoleEnv); role {
	case "":
	case "reaper":
		os.Exit(netns.ReaperMain())
	default:
		os.Exit(runRole(role))
	}
	// The test process itself resolves nothing; this makes sure of it.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if reason := netns.Unavailable(); reason != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "netns: %s. CI runs as root, and .ci/run installs iproute2 and iptables: this is a broken CI machine, not a reason to skip\n", reason)
			return 1
		}
		skipReason = reason
		return m.Run()
	}
	before, err := rootState()
	if err != nil {
		fmt.Fprintf(os.Stderr, "netns: reading the root namespace's state: %v\n", err)
		return 1
	}
	code := m.Run()
	if err := closeLab(); err != nil {
		fmt.Fprintf(os.Stderr, "netns: removing the lab: %v\n", err)
		code = 1
	}
	after, err := rootState()
	if err != nil {
		fmt.Fprintf(os.Stderr, "netns: reading the root namespace's state: %v\n", err)
		return 1
	}
	if diff := diffLines(before, after); diff != "" {
		fmt.Fprintf(os.Stderr, "netns: the root namespace changed during the run:\n%s", diff)
		code = 1
	}
	if left := ours(); left != "" {
		fmt.Fprintf(os.Stderr, "netns: left behind: %s\n", left)
		code = 1
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "netns: goroutine leak: %v\n", err)
		code = 1
	}
	return code
}

// rootState is what the suite promises not to change in the root
// namespace: interfaces, addresses, routes, forwarding and the firewall.
func rootState() (string, error) {
	var b strings.Builder
	for _, c := range [][]string{
		{"ip", "-o", "link", "show"},
		{"ip", "-o", "addr", "show"},
		{"ip", "route", "show", "table", "all"},
		{"sysctl", "net.ipv4.ip_forward"},
		{"iptables-save"},
	} {
		out, err := netns.Run(c[0], c[1:]...)
		if err != nil {
			return "", err
		}
		for _, line := range strings.Split(out, "\n") {
			// iptables-save stamps its output with the time, and the
			// lifetimes of addresses a DHCP client keeps count down.
			if strings.HasPrefix(line, "# ") {
				continue
			}
			line = lifetimes.ReplaceAllString(line, "")
			fmt.Fprintf(&b, "%s: %s\n", c[0], line)
		}
	}
	return b.String(), nil
}

var lifetimes = regexp.MustCompile(`(valid|preferred)_lft \S+`)

// diffLines lists the lines only in a or only in b.
func diffLines(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out strings.Builder
	for l, n := range count {
		switch {
		case n > 0:
			fmt.Fprintf(&out, "  gone:  %s\n", l)
		case n < 0:
			fmt.Fprintf(&out, "  added: %s\n", l)
		}
	}
	return out.String()
}

// ours lists the namespaces and /etc/netns entries of this run that exist.
func ours() string {
	prefix := netns.Prefix(os.Getpid())
	var left []string
	out, err := netns.Run("ip", "netns", "list")
	if err != nil {
		return err.Error()
	}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, prefix+"-") {
			left = append(left, "namespace "+f)
		}
	}
	if entries, err := os.ReadDir("/etc/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix+"-") {
				left = append(left, "/etc/netns/"+e.Name())
			}
		}
	}
	return strings.Join(left, ", ")
}
