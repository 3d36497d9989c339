package httplimit_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/httplimit"
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
	for _, tc := range []struct {
		size int
		want int
	}{
		{1 << 10, http.StatusOK},
		{httplimit.MaxHeader + 8<<10, http.StatusRequestHeaderFieldsTooLarge},
		{512 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("a header of %d bytes: %v", tc.size, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("a header of %d bytes: status %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
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
