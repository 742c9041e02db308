package testkit

import (
	"context"
	"encoding/binary"
	"io"
	"net"

	"golang.org/x/net/dns/dnsmessage"
)

// OfflineResolver returns a resolver that never sends a packet: every DNS
// question is answered "no such host" (NXDOMAIN) in-process, so only names
// in /etc/hosts and IP literals resolve. Tests and demos that dial hidden
// names install it to keep all traffic on the machine:
//
//	net.DefaultResolver = kafkanattest.OfflineResolver()
//
// Lookups through it fail the way an unknown name fails in real networks
// (*net.DNSError with IsNotFound), fast.
func OfflineResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveNXDOMAIN(server)
			return client, nil
		},
	}
}

// serveNXDOMAIN answers DNS queries framed as over TCP (a 2-byte length,
// then the message) with NXDOMAIN until the client closes the pipe.
func serveNXDOMAIN(c net.Conn) {
	defer c.Close()
	var lenBuf [2]byte
	for {
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{
			ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired,
			RecursionAvailable: true, RCode: dnsmessage.RCodeNameError,
		})
		b.EnableCompression()
		if b.StartQuestions() != nil || b.Question(q) != nil {
			return
		}
		resp, err := b.Finish()
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(resp[:2], uint16(len(resp)-2))
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}
