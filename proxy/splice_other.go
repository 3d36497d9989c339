//go:build !linux

package proxy

import (
	"net"
	"sync/atomic"
	"time"
)

// spliceCopy is Linux only; elsewhere links copy through a buffer.
func spliceCopy(dst, src *net.TCPConn, counter *atomic.Int64, changed func() bool) (handled bool, pending *event, err error) {
	return false, nil, nil
}

func chunkReader(src net.Conn) (chunks func(emit func([]byte, time.Time) bool) error, stop func()) {
	return bufferedChunks(src)
}
