//go:build !linux

package proxy

import (
	"net"
	"sync/atomic"
	"time"
)

// spliceCopy is Linux only; elsewhere links copy through a buffer.
func spliceCopy(dst, src *net.TCPConn, counter *atomic.Int64) (handled bool, err error) {
	return false, nil
}

func chunkReader(src net.Conn) (next func() ([]byte, time.Time, error), stop func()) {
	return bufferedChunks(src)
}
