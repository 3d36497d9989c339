package engine

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a sortable unique run ID in the manner of a ULID: 48 bits of Unix
// milliseconds then 80 random bits, written as 26 lower-case Crockford base32 characters.
// IDs made in later milliseconds sort after earlier ones.
func NewID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	b[3], b[4], b[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	rand.Read(b[6:]) // crypto/rand.Read never fails (it crashes the program instead)
	return encodeID(b)
}

// encodeID writes 128 bits as 26 base32 characters, 5 bits each from the right; the first
// character holds the top 3 bits (a ULID's top 2 bits are always zero for 48-bit times).
func encodeID(b [16]byte) string {
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// randomSeed returns a random seed other than zero (zero means "pick one").
func randomSeed() int64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		s := int64(binary.BigEndian.Uint64(b[:]) & math.MaxInt64)
		if s != 0 {
			return s
		}
	}
}
