package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// httpClient follows no redirect: the API never answers with one, and a DELETE sent on to
// another address could remove what the run never named.
var httpClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// maxAnswer bounds one answer of a proxy daemon's API: its largest, the list of a daemon's
// proxies and their faults, fits many times over.
const maxAnswer = 1 << 20

// call sends one request to a proxy daemon's API and decodes a success into out. An
// error answer becomes an error of the kind its status says; an unreachable daemon is
// KindUnavailable.
func call(ctx context.Context, method, addr string, body []byte, out any) error {
	op := method + " " + shakedown.RedactURL(addr) // the API's URL may hold a password
	if _, err := endpoint.HTTPURL(addr); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, method, err) // it shows the URL, redacted
	}
	req, err := http.NewRequestWithContext(ctx, method, addr, bytes.NewReader(body))
	if err != nil {
		var ue *url.Error // it quotes the URL whole
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return shakedown.Wrap(shakedown.KindInvalid, op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shakedown/"+shakedown.Version)
	resp, err := httpClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // op says the method and URL already
		}
		return shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	defer resp.Body.Close()
	b, err := endpoint.ReadAll(resp.Body, maxAnswer)
	if err != nil && !(errors.Is(err, endpoint.ErrTooLarge) && resp.StatusCode >= 300) {
		return shakedown.Wrap(shakedown.KindUnavailable, op, err) // an error answer says its status below
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		msg := resp.Status
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return shakedown.Wrap(shakedown.KindOfStatus(resp.StatusCode), op, fmt.Errorf("%d: %s", resp.StatusCode, msg))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return shakedown.Wrap(shakedown.KindInternal, "decode answer of "+op, err)
		}
	}
	return nil
}
