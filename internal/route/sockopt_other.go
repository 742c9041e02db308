//go:build !linux

package route

import "syscall"

const quickAckSupported = false

// setUserTimeout does nothing outside Linux, which alone has
// TCP_USER_TIMEOUT as this package sets it.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }

func setQuickAck(uintptr) {}
