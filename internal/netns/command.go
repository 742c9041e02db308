package netns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binary returns the path of an executable, looked up on PATH and then in
// the sbin directories, which are not on every user's PATH.
func Binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/sbin, /sbin, /usr/bin, /bin", name)
}

// Run runs a command to completion and returns its standard output. The
// error names the command line and carries what it printed.
func Run(name string, args ...string) (string, error) {
	bin, err := Binary(name)
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + stdout.String())
		if msg == "" {
			msg = "(no output)"
		}
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// InNS runs a command inside network namespace ns ("ip netns exec").
func InNS(ns, name string, args ...string) (string, error) {
	bin, err := Binary(name)
	if err != nil {
		return "", err
	}
	return Run("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
}

// Unavailable says why this machine cannot build namespaces (not root, no
// iproute2, no iptables), or returns "" when it can.
func Unavailable() string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, b := range []struct{ name, pkg string }{{"ip", "iproute2"}, {"iptables", "iptables"}} {
		if _, err := Binary(b.name); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", b.name, b.pkg))
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "the real-network suite needs " + strings.Join(missing, " and ")
}
