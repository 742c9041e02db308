package netns_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kafkanat/kafkanat/internal/netns"
)

// TestWithoutRoot runs this test binary as user nobody: the suite skips,
// and under CI=true it fails, naming what is missing.
func TestWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as another user")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy nobody can read and run: go test's build directory is
	// root's alone.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "netns.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP: TestIsolation"},
		{"true", true, "the real-network suite needs root"},
	} {
		cmd := exec.Command(bin, "-test.run=^TestIsolation$", "-test.v")
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CI=" + tc.ci, "HOME=" + dir}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		failed := err != nil
		if failed != tc.wantFail || !strings.Contains(string(out), tc.want) {
			t.Errorf("as nobody with CI=%q: error %v, output:\n%s\nwant failed=%v and %q", tc.ci, err, out, tc.wantFail, tc.want)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestRolesRefuseTheTestsNamespace: a program meant for a namespace the
// test built refuses to run in the test's own (the machine's network),
// before it listens or dials. The role is the DNS server, which would
// only fail to listen there anyway.
func TestRolesRefuseTheTestsNamespace(t *testing.T) {
	if skipReason != "" {
		t.Skip("netns: " + skipReason)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent, err := netns.ParentNetEnv()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), netns.RoleEnv+"=dns", parent)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to run: running in the test process's own network namespace") {
		t.Errorf("the dns role in the test's namespace: error %v, output %q; want a refusal", err, out)
	}
}
