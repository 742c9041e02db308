package kube_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExamplePortForward builds kube/examples/portforward and runs it with
// no arguments, as CI's smoke test of the example: it must exit 0 within
// a minute and print its key lines.
func TestExamplePortForward(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the example: %v", err)
	}
	exe := filepath.Join(t.TempDir(), "portforward")
	build := exec.Command(goTool, "build", "-o", exe, "./examples/portforward")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/portforward: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("--- stdout\n%s--- stderr\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("the example failed: %v", err)
	}
	lines := strings.Split(stdout.String(), "\n")
	for _, want := range []string{
		`^   dial kafka\.kafka\.svc\.cluster\.local:9092 via k8s \(rule 1: \*\.svc\.cluster\.local via k8s\): pod at 198\.51\.100\.\d+:9092$`,
		`^   dial kafka-2\.kafka-headless\.kafka\.svc\.cluster\.local:9092 via k8s \(rule 1: \*\.svc\.cluster\.local via k8s\): pod at 198\.51\.100\.\d+:9092$`,
		`^   produced 9 records to orders and consumed them back$`,
		`^   3 upgraded connections to the API server carried \d+ port-forward streams:$`,
		`^   pod kafka/kafka-1 over WebSocket: [1-9]\d* streams to port 9092$`,
	} {
		re := regexp.MustCompile(want)
		found := false
		for _, l := range lines {
			found = found || re.MatchString(l)
		}
		if !found {
			t.Errorf("the example printed no line matching %s", want)
		}
	}
}
