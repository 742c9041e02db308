package streamconn

import (
	"math/bits"
	"sync"
)

// Buffers come in power-of-two sizes from minBuf to maxBuf, one pool per
// size, so that a Conn holds a buffer the size of what is in flight and
// idle Conns hold none. Larger buffers (a Chunk above maxBuf) are not
// pooled.
const (
	minBufShift = 9 // 512 bytes: a Kafka response header, or a small response whole
	maxBufShift = 20
	minBuf      = 1 << minBufShift
	maxBuf      = 1 << maxBufShift
)

var pools [maxBufShift - minBufShift + 1]sync.Pool

// class returns the pool index for a buffer of n bytes (n <= maxBuf).
func class(n int) int {
	if n <= minBuf {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns a buffer of at least n bytes, its length its capacity.
func getBuf(n int) *[]byte {
	if n > maxBuf {
		b := make([]byte, n)
		return &b
	}
	i := class(n)
	if b, ok := pools[i].Get().(*[]byte); ok {
		*b = (*b)[:cap(*b)]
		return b
	}
	b := make([]byte, minBuf<<i)
	return &b
}

// putBuf returns b to its pool; a buffer of no pool's size is dropped.
func putBuf(b *[]byte) {
	c := cap(*b)
	if c < minBuf || c > maxBuf || c&(c-1) != 0 {
		return
	}
	pools[class(c)].Put(b)
}

// fillSize is the size of the read a fill makes for a Read of n bytes: n
// rounded up to a pool size, at most chunk (and at least 1).
func fillSize(n, chunk int) int {
	size := minBuf
	if n > minBuf {
		size = 1 << bits.Len(uint(n-1))
	}
	return max(1, min(size, chunk))
}
