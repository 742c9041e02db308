//go:build !linux

package route

import (
	"net"
)

const quickAckSupported = false

// userTimeoutSupported is false outside Linux, which alone has
// TCP_USER_TIMEOUT as this package sets it.
const userTimeoutSupported = false

func setUserTimeout(*net.TCPConn) error { return nil }

func setQuickAck(uintptr) {}
