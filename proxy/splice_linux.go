package proxy

import (
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pipeSize is the size asked for each splice pipe, and so the most one splice moves.
const pipeSize = 1 << 20

type pipe struct{ r, w int }

// pipes keeps a few idle pipes for reuse; a connection takes one only while bytes flow,
// so idle connections hold none.
var pipes = make(chan *pipe, 256)

func getPipe() (*pipe, error) {
	select {
	case p := <-pipes:
		return p, nil
	default:
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize) // best effort: 64 KiB otherwise
	return &pipe{r: fds[0], w: fds[1]}, nil
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// putPipe returns an empty pipe to the pool.
func putPipe(p *pipe) {
	select {
	case pipes <- p:
	default:
		p.close()
	}
}

// spliceCopy moves bytes from src to dst in the kernel until src ends (nil), an error,
// or a read deadline on src (os.ErrDeadlineExceeded). It waits for src to be readable
// before it takes a pipe, and empties the pipe into dst before it looks at src again, so
// an interruption never strands a byte. handled is false when splice cannot be used and
// nothing was moved.
func spliceCopy(dst, src *net.TCPConn, counter *atomic.Int64) (handled bool, err error) {
	srcRC, err := src.SyscallConn()
	if err != nil {
		return false, nil
	}
	dstRC, err := dst.SyscallConn()
	if err != nil {
		return false, nil
	}
	var one [1]byte
	for {
		var n int
		var serr error
		err := srcRC.Read(func(fd uintptr) bool {
			n, _, serr = unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			return serr != unix.EAGAIN && serr != unix.EINTR
		})
		if err != nil {
			return true, err
		}
		if serr != nil {
			return true, serr
		}
		if n == 0 {
			return true, nil // end of stream
		}
		p, perr := getPipe()
		if perr != nil {
			return handled, perr
		}
		var moved int
		err = srcRC.Read(func(fd uintptr) bool {
			var m int64
			m, serr = unix.Splice(int(fd), nil, p.w, nil, pipeSize, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			moved = int(m)
			return serr != unix.EAGAIN && serr != unix.EINTR
		})
		if err == nil && serr == unix.EINVAL && !handled {
			putPipe(p)
			return false, nil
		}
		handled = true
		if err != nil || serr != nil {
			putPipe(p) // nothing went into it
			if err == nil {
				err = serr
			}
			return true, err
		}
		if moved == 0 {
			putPipe(p)
			return true, nil
		}
		left := moved
		err = dstRC.Write(func(fd uintptr) bool {
			for left > 0 {
				w, werr := unix.Splice(p.r, nil, int(fd), nil, left, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
				switch {
				case werr == unix.EINTR:
					continue
				case werr == unix.EAGAIN:
					return false
				case werr != nil:
					serr = werr
					return true
				}
				left -= int(w)
			}
			return true
		})
		if err == nil {
			err = serr
		}
		if err != nil || left > 0 {
			p.close() // bytes may be left in it
			if err == nil {
				err = unix.EIO
			}
			return true, err
		}
		putPipe(p)
		counter.Add(int64(moved))
	}
}
