package network

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"github.com/shakedown-dev/shakedown"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Delayer holds the packets of one NFQUEUE queue for delay±jitter each, then accepts them.
// It runs in this process: when the process dies the kernel unbinds the queue and, because
// the rules carry the bypass flag, packets flow undelayed. Stop releases every held packet.
type Delayer struct {
	delay, jitter time.Duration
	nf            *nfqueue.Nfqueue
	cancel        context.CancelFunc

	mu      sync.Mutex
	rnd     *rand.Rand
	held    packetHeap
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

type packet struct {
	at time.Time
	id uint32
}

type packetHeap []packet

func (h packetHeap) Len() int           { return len(h) }
func (h packetHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h packetHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)        { *h = append(*h, x.(packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

// StartDelayer binds queue num in the namespace of h and starts holding its packets. The
// caller must call Stop.
func StartDelayer(h netns.NsHandle, num uint16, delay, jitter time.Duration, seed uint64) (*Delayer, error) {
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        int(h),
		NfQueue:      num,
		MaxQueueLen:  65535,
		Copymode:     nfqueue.NfQnlCopyPacket,
		MaxPacketLen: 1, // the verdict needs only the packet id
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, shakedown.Wrap(kindOf(err), "open nfqueue", err)
	}
	// Receive buffer room for bursts; ENOBUFS would lose packet ids (they then time out in
	// the kernel queue only when the queue is unbound, so avoid it).
	_ = nf.Con.SetReadBuffer(8 << 20)
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	d := &Delayer{delay: delay, jitter: jitter, nf: nf, rnd: rand.New(rand.NewPCG(seed, uint64(num))),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	err = nf.RegisterWithErrorFunc(ctx, d.hook, func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		return 0 // keep reading: a lost message is one packet accepted late by the fail-open kernel
	})
	if err != nil {
		cancel()
		nf.Close()
		return nil, shakedown.Wrap(kindOf(err), "bind nfqueue", err)
	}
	go d.release()
	return d, nil
}

func (d *Delayer) hook(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	now := time.Now()
	d.mu.Lock()
	wait := d.delay
	if d.jitter > 0 {
		wait += time.Duration(d.rnd.Int64N(int64(2*d.jitter)+1)) - d.jitter
	}
	if d.stopped {
		d.mu.Unlock()
		_ = d.nf.SetVerdict(*a.PacketID, nfqueue.NfAccept)
		return 0
	}
	first := len(d.held) == 0 || now.Add(wait).Before(d.held[0].at)
	heap.Push(&d.held, packet{at: now.Add(wait), id: *a.PacketID})
	d.mu.Unlock()
	if first {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return 0
}

// release accepts packets as they fall due. It owns the timer and exits on Stop.
func (d *Delayer) release() {
	defer close(d.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		var due []uint32
		for len(d.held) > 0 && !d.held[0].at.After(now) {
			due = append(due, heap.Pop(&d.held).(packet).id)
		}
		next := time.Hour
		if len(d.held) > 0 {
			next = d.held[0].at.Sub(now)
		}
		stopped := d.stopped
		if stopped {
			for _, p := range d.held {
				due = append(due, p.id)
			}
			d.held = nil
		}
		d.mu.Unlock()
		for _, id := range due {
			_ = d.nf.SetVerdict(id, nfqueue.NfAccept)
		}
		if stopped {
			return
		}
		t.Reset(next)
		select {
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Stop accepts every held packet at once, unbinds the queue and waits for its goroutines.
// It is safe to call more than once.
func (d *Delayer) Stop() error {
	d.mu.Lock()
	already := d.stopped
	d.stopped = true
	d.mu.Unlock()
	if already {
		return nil
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
	<-d.done
	d.cancel()
	err := d.nf.Close()
	if err != nil && !gone(err) && err != unix.EBADF {
		return shakedown.Wrap(shakedown.KindInternal, "close nfqueue", err)
	}
	return nil
}
