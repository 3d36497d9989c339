package proxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/netfd"
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

// readBufs holds the buffers of small reads; a link takes one only once its socket has
// data, so idle links hold none.
var readBufs = sync.Pool{New: func() any { b := make([]byte, smallRead); return &b }}

// smallRead is the most one plain read takes; a read that fills it means bulk, which
// moves to splice.
const smallRead = 64 << 10

// spliceCopy moves bytes from src to dst until src ends (nil), an error, a read deadline
// on src (os.ErrDeadlineExceeded), or bytes or the end read after changed() turned true
// (errChanged, with what was read in pending). Small messages go through one plain read
// and write (cheapest for request/response traffic); once a read fills its buffer the
// bytes move in the kernel with splice(2) until the socket runs dry. A pipe or buffer is
// taken only when bytes are there, and emptied into dst before src is read again, so an
// interruption never strands a byte. handled is false when splice cannot be used and
// nothing was moved.
//
// After a read that did not fill its buffer, it waits for the next wake-up rather than
// make a read that would most often say "nothing yet" — but only when the read said, with
// TCP_INQ, that nothing is left behind it: the end of the stream may have come with the
// last bytes, in the same wake-up, and no other would come for it.
func spliceCopy(dst, src *net.TCPConn, counter *atomic.Int64, changed func() bool) (handled bool, pending *event, err error) {
	srcRC, err := src.SyscallConn()
	if err != nil {
		return false, nil, nil
	}
	dstRC, err := dst.SyscallConn()
	if err != nil {
		return false, nil, nil
	}
	w := newRawWriter(dstRC)
	q := newQueueHint(srcRC)
	var buf *[]byte
	var n, sent int
	var rerr error
	read := func(fd uintptr) bool {
		b := readBufs.Get().(*[]byte)
		for {
			sent = 0
			var left bool
			n, left, rerr = q.read(int(fd), *b)
			switch {
			case rerr == unix.EINTR:
				continue
			case rerr == unix.EAGAIN:
				readBufs.Put(b)
				return false
			case rerr != nil || n <= 0 || n == smallRead || changed():
				buf = b
				return true
			}
			// A short read: pass the bytes on at once and, if the destination takes them
			// all, read again only if something is left behind them.
			sent = w.tryWrite((*b)[:n])
			if sent < n {
				buf = b
				return true
			}
			counter.Add(int64(n))
			if !left {
				readBufs.Put(b)
				return false
			}
		}
	}
	for {
		buf, n, sent, rerr = nil, 0, 0, nil
		if err := srcRC.Read(read); err != nil {
			return true, nil, err
		}
		if rerr != nil {
			readBufs.Put(buf)
			return true, nil, rerr
		}
		if n <= 0 {
			readBufs.Put(buf)
			if changed() {
				return true, &event{kind: evEOF, at: time.Now()}, errChanged
			}
			return true, nil, nil // end of stream
		}
		if sent == 0 && changed() {
			ev := &event{kind: evData, data: append([]byte(nil), (*buf)[:n]...), at: time.Now()}
			readBufs.Put(buf)
			return true, ev, errChanged
		}
		werr := w.writeAll((*buf)[sent:n])
		readBufs.Put(buf)
		if werr != nil {
			return true, nil, werr
		}
		counter.Add(int64(n))
		if n < smallRead {
			continue
		}
		if eof, err := spliceBulk(dstRC, srcRC, counter, changed); err != nil || eof {
			return true, nil, err
		}
	}
}

// spliceBulk splices from src to dst while the bytes come in bulk: it waits for more
// (holding no pipe while it waits) as long as each splice fills at least smallRead, and
// goes back to plain reads (eof and err nil) after one that moved less, as request and
// response traffic does. It stops with errChanged, the pipe empty, when changed() turns
// true.
func spliceBulk(dstRC, srcRC syscall.RawConn, counter *atomic.Int64, changed func() bool) (eof bool, err error) {
	var p *pipe // taken when bytes are there, kept while they keep coming
	defer func() {
		if p != nil {
			putPipe(p) // empty: every return below has emptied it, or closed it
		}
	}()
	for {
		var moved int
		var serr error
		stale := false
		err = srcRC.Read(func(fd uintptr) bool {
			if stale = changed(); stale {
				return true // checked once bytes are there, as a plain read checks them
			}
			if p == nil {
				if p, serr = getPipe(); serr != nil {
					return true
				}
			}
			for {
				m, e := unix.Splice(int(fd), nil, p.w, nil, pipeSize, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
				switch e {
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					putPipe(p) // never wait holding a pipe
					p = nil
					return false
				}
				moved, serr = int(m), e
				return true
			}
		})
		switch {
		case err != nil:
			return false, err
		case serr != nil:
			return false, serr
		case stale:
			return false, errChanged
		case moved == 0:
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
			p = nil
			if err == nil {
				err = unix.EIO
			}
			return false, err
		}
		counter.Add(int64(moved))
		if moved < smallRead {
			return false, nil
		}
	}
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket without telling
// the scheduler of a syscall: such a call never blocks, and telling it costs more than
// the call (a sleeping monitor thread woken, a processor handed off) on small messages.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawRecvmsg is recvmsg(2) as rawRead is read(2), into b with control messages into oob.
// Unlike unix.Recvmsg it allocates nothing (no source address: the socket is connected).
func rawRecvmsg(fd int, b, oob []byte) (n, oobn int, err error) {
	iov := unix.Iovec{Base: unsafe.SliceData(b)}
	iov.SetLen(len(b))
	msg := unix.Msghdr{Iov: &iov, Control: unsafe.SliceData(oob)}
	msg.SetIovlen(1)
	msg.SetControllen(len(oob))
	r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(msg.Controllen), nil
}

// queueHint reads from a TCP socket and says, where the kernel can (TCP_INQ, Linux 4.18),
// whether anything is left behind what a read returned: more bytes, or the end of the
// stream. Without it every read says "maybe", and the reader reads until "nothing yet".
type queueHint struct {
	on  bool
	oob []byte
}

func newQueueHint(rc syscall.RawConn) *queueHint {
	q := &queueHint{on: askQueueHint(rc)}
	if q.on {
		q.oob = make([]byte, netfd.QueuedSpace)
	}
	return q
}

// askQueueHint turns TCP_INQ on for the socket, and says whether the kernel took it.
func askQueueHint(rc syscall.RawConn) (on bool) {
	rc.Control(func(fd uintptr) {
		on = unix.SetsockoptInt(int(fd), unix.SOL_TCP, unix.TCP_INQ, 1) == nil
	})
	return on
}

// read reads into b from the socket fd; left is false only when the kernel said the
// socket is empty and open after it.
func (q *queueHint) read(fd int, b []byte) (n int, left bool, err error) {
	if !q.on {
		n, err = rawRead(fd, b)
		return n, true, err
	}
	n, oobn, err := rawRecvmsg(fd, b, q.oob)
	queued, known := netfd.Queued(q.oob[:oobn])
	return n, !known || queued > 0, err
}

// rawWriter writes whole buffers to a socket, waiting while its buffer is full. It is
// made once per link so that a write allocates nothing.
type rawWriter struct {
	rc    syscall.RawConn
	b     []byte
	err   error
	fn    func(fd uintptr) bool
	tryFn func(fd uintptr) bool
}

func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	w.fn = w.write
	w.tryFn = func(fd uintptr) bool { w.write(fd); return true }
	return w
}

func (w *rawWriter) write(fd uintptr) bool {
	for len(w.b) > 0 {
		n, e := rawWrite(int(fd), w.b)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return false
		case e != nil:
			w.err = e
			return true
		}
		w.b = w.b[n:]
	}
	return true
}

// tryWrite writes what the socket takes of b now, without waiting, and says how much
// that was; an error is left for the next write to meet.
func (w *rawWriter) tryWrite(b []byte) int {
	w.b, w.err = b, nil
	w.rc.Write(w.tryFn)
	n := len(b) - len(w.b)
	w.b = nil
	return n
}

func (w *rawWriter) writeAll(b []byte) error {
	w.b, w.err = b, nil
	err := w.rc.Write(w.fn)
	w.b = nil
	if err != nil {
		return err
	}
	return w.err
}

// chunkReader returns a function that reads chunks from src, each of at most readSize
// bytes into a slice of its own, and hands each to emit with the time it arrived, until
// emit returns false (nil), src ends (io.EOF) or a read fails (a deadline, say). From a
// TCP socket it takes a buffer only while bytes are there, so a link on the toxic path
// that sits idle holds none, and the time is the kernel's receive timestamp
// (SO_TIMESTAMPNS), not the time this process got round to reading: a latency toxic
// counts from the true arrival. It waits after a read that found nothing or that left
// nothing behind it (TCP_INQ, as spliceCopy). stop turns the timestamps off again.
func chunkReader(src net.Conn) (chunks func(emit func([]byte, time.Time) bool) error, stop func()) {
	tc, ok := src.(*net.TCPConn)
	if !ok {
		return bufferedChunks(src)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return bufferedChunks(src)
	}
	stamped := false
	rc.Control(func(fd uintptr) {
		stamped = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	})
	stop = func() {
		if stamped {
			rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 0) })
		}
	}
	inq := askQueueHint(rc)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))+netfd.QueuedSpace)
	var emit func([]byte, time.Time) bool
	var rerr error
	read := func(fd uintptr) bool {
		b := readBufs.Get().(*[]byte)
		defer readBufs.Put(b)
		for {
			var n, oobn int
			if stamped || inq {
				n, oobn, rerr = rawRecvmsg(int(fd), (*b)[:readSize], oob)
			} else {
				n, rerr = rawRead(int(fd), (*b)[:readSize])
			}
			switch {
			case rerr == unix.EINTR:
				continue
			case rerr == unix.EAGAIN:
				rerr = nil
				return false
			case rerr != nil:
				return true
			case n == 0:
				rerr = io.EOF
				return true
			}
			at := time.Now()
			if oobn > 0 {
				at = arrival(oob[:oobn], at)
			}
			if !emit(append([]byte(nil), (*b)[:n]...), at) {
				return true
			}
			if queued, known := netfd.Queued(oob[:oobn]); known && queued == 0 {
				return false // nothing behind these bytes: wait for more
			}
		}
	}
	chunks = func(e func([]byte, time.Time) bool) error {
		emit, rerr = e, nil
		err := rc.Read(read)
		emit = nil
		if err != nil {
			return err
		}
		return rerr
	}
	return chunks, stop
}

// arrival turns the receive timestamp in a control message (wall clock) into a time on
// now's monotonic clock. Without one, or with one that makes no sense (a clock step), it
// is now.
func arrival(oob []byte, now time.Time) time.Time {
	ts, ok := netfd.ReceivedAt(oob)
	if !ok {
		return now
	}
	age := now.Sub(time.Unix(ts.Unix()))
	if age < 0 || age > time.Second {
		return now
	}
	return now.Add(-age)
}
