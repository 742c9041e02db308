package netns

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Listening reports whether a socket in the network namespace of process
// pid listens on TCP addr. It reads /proc/PID/net/tcp (which lists the
// sockets of the process's namespace, not of the reader's), so it works
// from the root namespace without a route and without dialing anything.
func Listening(pid int, addr netip.AddrPort) (bool, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/tcp")
	if err != nil {
		return false, err
	}
	ls, err := ParseListeners(data)
	if err != nil {
		return false, fmt.Errorf("/proc/%d/net/tcp: %w", pid, err)
	}
	// Exact addresses only: until "ip netns exec" has entered the
	// namespace, the file shows the root namespace, whose wildcard
	// listeners must not pass for the peer's.
	return slices.Contains(ls, addr), nil
}

// tcpListen is the state column's value for LISTEN (include/net/tcp_states.h).
const tcpListen = "0A"

// ParseListeners returns the local addresses of the listening sockets in
// the text of /proc/net/tcp: a header line, then one line per socket whose
// second field is the local address as hex IP (in host byte order, which
// is little-endian on the machines this runs on) and hex port, and whose
// fourth field is the state.
func ParseListeners(data []byte) ([]netip.AddrPort, error) {
	lines := strings.Split(string(data), "\n")
	var out []netip.AddrPort
	for i, line := range lines {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // the header, or the end
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 4", i+1, len(f))
		}
		if f[3] != tcpListen {
			continue
		}
		ipHex, portHex, ok := strings.Cut(f[1], ":")
		if !ok || len(ipHex) != 8 {
			return nil, fmt.Errorf("line %d: local address %q is not IPv4 hex IP:port", i+1, f[1])
		}
		raw, err := hex.DecodeString(ipHex)
		if err != nil {
			return nil, fmt.Errorf("line %d: local address %q: %w", i+1, f[1], err)
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("line %d: local port %q: %w", i+1, portHex, err)
		}
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], binary.LittleEndian.Uint32(raw))
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(port)))
	}
	return out, nil
}
