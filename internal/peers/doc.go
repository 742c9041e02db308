// Package peers starts real third-party proxies (Debian's microsocks,
// dante-server and tinyproxy) and an SSH bastion (openssh-server's sshd)
// on loopback ports for tests, so that kafkanat's
// routes are checked against the servers people actually run, not only
// against the in-process servers of package kafkanattest.
//
// Each peer writes its configuration to the test's temp dir, listens on
// 127.0.0.1 only, and is stopped when the test ends. A missing binary skips
// the test, except in CI (CI=true), where it fails it.
package peers
