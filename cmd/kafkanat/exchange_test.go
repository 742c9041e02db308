package main

import (
	"strings"
	"testing"
	"unicode"
)

// What a peer sends ends up in a table line, a JSON string and the
// logs of whoever runs probe: whatever the bytes, the description is one
// line of printable text, and a Kafka answer is not described.
func FuzzNotKafka(f *testing.F) {
	for _, seed := range []string{
		"",
		"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"\x15\x03\x03\x00\x02\x02\x28",                  // a TLS alert
		"\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00",      // a Kafka answer: length, correlation id 0
		"\x00\x00\x00\x10\x00\x00\x00\x07",              // a length, another correlation id
		"-ERR unknown command 'HEAD'\r\n",               // Redis
		"220 smtp.invalid ESMTP\r\n",                    // SMTP
		"\xde\xad\xbe\xef\x00\x01\x02\x03\x1b[2J\n",     // binary and a terminal escape
		"line one\u2028still \u0085 line one\nline two", // separators no terminal should see raw
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &peekConn{first: b[:min(len(b), peekSize)]}
		got := c.notKafka()
		if strings.ContainsFunc(got, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
			t.Fatalf("notKafka(%q) = %q: not one printable line", b, got)
		}
		if len(b) == 0 && got != "" {
			t.Fatalf("notKafka of nothing = %q", got)
		}
		if len(b) >= 8 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] >= 4 && string(b[4:8]) == "\x00\x00\x00\x00" && got != "" {
			t.Fatalf("notKafka(%q) = %q for a Kafka answer", b, got)
		}
	})
}
