package httplimit_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/httplimit"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// TestServerLimits: a server from Server answers a header within MaxHeader, refuses one past
// it with 431, and closes a connection whose header does not come within ReadHeaderTimeout.
func TestServerLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httplimit.Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.ReadHeaderTimeout = 100 * time.Millisecond // the same field, shortened for the test
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if srv.MaxHeaderBytes != httplimit.MaxHeader {
		t.Errorf("MaxHeaderBytes %d, want %d", srv.MaxHeaderBytes, httplimit.MaxHeader)
	}
	testenv.HeaderLimit(t, "http://"+ln.Addr().String()+"/", httplimit.MaxHeader)
	// A header that never ends: the server hangs up.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Errorf("a header that never ends was answered; want the connection closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a header that never ends kept its connection open past ReadHeaderTimeout")
	}
}
