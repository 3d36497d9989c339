package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// Defaults of a Notifier.
const (
	DefaultNotifyTimeout = 10 * time.Second // per attempt
	DefaultRetries       = 2                // after the first attempt
	DefaultBackoff       = time.Second      // before the first retry; doubled after each
)

// Notifier POSTs a JSON message about a drill's run to the drill's notify URLs. The body is
// Slack-compatible (an incoming webhook shows its "text"); other receivers read the
// "shakedown" object. A receiver that fails (no answer within the timeout, a 5xx or a 429)
// is tried again a few times; one that still fails is logged, never fatal. Every string of
// the message passes through the Redactor first.
type Notifier struct {
	Client  *http.Client  // nil: one that follows no redirect (see noRedirects)
	Timeout time.Duration // per attempt; 0: DefaultNotifyTimeout
	Retries int           // 0: DefaultRetries; negative: none
	Backoff time.Duration // 0: DefaultBackoff
	// RunURL returns the address of a run's page on the dashboard; nil: messages hold no
	// link.
	RunURL func(runID string) string
	// VerdictLine is the line a run's verdict is told in (report's); nil: a short one.
	VerdictLine func(*shakedown.Record) string
	Redactor    *shakedown.Redactor
	Log         *slog.Logger // nil: slog.Default()
}

// Message is the JSON body a notify URL gets.
type Message struct {
	// Text is what Slack shows: the verdict line and the link to the run's page, with &, <
	// and > escaped as Slack asks (&amp; &lt; &gt;).
	Text      string  `json:"text"`
	Shakedown Summary `json:"shakedown"`
}

// Summary is the run a Message is about, for receivers that read fields.
type Summary struct {
	Drill      string          `json:"drill"`
	Experiment string          `json:"experiment,omitempty"`
	File       string          `json:"file,omitempty"`
	Run        string          `json:"run,omitempty" redact:"keep"`
	Verdict    string          `json:"verdict"`
	ExitCode   int             `json:"exit_code"`
	Reason     string          `json:"reason"`
	URL        string          `json:"url,omitempty"`
	StartedAt  *shakedown.Time `json:"started_at,omitempty"`
	EndedAt    *shakedown.Time `json:"ended_at,omitempty"`
}

// NewMessage is the message about run r of drill d, before its secrets are hidden and its
// text escaped for Slack.
func (n *Notifier) NewMessage(d *Drill, r *shakedown.Record) *Message {
	m := &Message{Shakedown: Summary{Drill: d.Name, Experiment: r.Experiment.Name, File: r.Experiment.File,
		Run: r.ID, Verdict: string(r.Verdict), ExitCode: r.ExitCode, Reason: r.Reason}}
	if !r.StartedAt.IsZero() {
		m.Shakedown.StartedAt = &r.StartedAt
	}
	if !r.EndedAt.IsZero() {
		m.Shakedown.EndedAt = &r.EndedAt
	}
	if n.RunURL != nil && r.ID != "" {
		m.Shakedown.URL = n.RunURL(r.ID)
	}
	line := fmt.Sprintf("%s %s (exit %d): %s", r.Verdict, r.Experiment.Name, r.ExitCode, r.Reason)
	if n.VerdictLine != nil {
		line = n.VerdictLine(r)
	}
	m.Text = "shakedown drill " + d.Name + ": " + line
	if m.Shakedown.URL != "" {
		m.Text += "\n" + m.Shakedown.URL
	}
	return m
}

// slackEscape escapes the characters that Slack reads as markup in a message's text (&, <
// and >, as its documentation asks), so that a verdict line is shown as written.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Send tells d's notify URLs of run r.
func (n *Notifier) Send(ctx context.Context, d *Drill, r *shakedown.Record) {
	n.post(ctx, d, n.NewMessage(d, r))
}

// SendError tells d's notify URLs that d could not run at all, and why.
func (n *Notifier) SendError(ctx context.Context, d *Drill, err error) {
	k := shakedown.KindOf(err)
	m := &Message{Shakedown: Summary{Drill: d.Name, File: d.Experiments, Verdict: string(k.Verdict()),
		ExitCode: k.ExitCode(), Reason: err.Error()}}
	m.Text = fmt.Sprintf("shakedown drill %s could not run (%s, exit %d): %v", d.Name, k.Verdict(), k.ExitCode(), err)
	n.post(ctx, d, m)
}

func (n *Notifier) post(ctx context.Context, d *Drill, m *Message) {
	n.Redactor.Redact(m)
	m.Text = slackEscape(m.Text) // after: a secret holding & < or > is still found
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the text is escaped for Slack already; the rest is data
	err := enc.Encode(m)
	body := buf.Bytes()
	if err != nil {
		n.log().Error("notify: encode the message", "drill", d.Name, "err", err)
		return
	}
	for _, u := range d.Notify {
		if err := n.deliver(ctx, u, body); err != nil {
			n.log().Error("notify failed", "drill", d.Name, "to", where(u), "err", err)
		} else {
			n.log().Info("notified", "drill", d.Name, "to", where(u), "run", m.Shakedown.Run)
		}
	}
}

// deliver POSTs body to u, trying again after a failure that may pass.
func (n *Notifier) deliver(ctx context.Context, u string, body []byte) error {
	retries := n.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	wait := n.Backoff
	if wait <= 0 {
		wait = DefaultBackoff
	}
	var err error
	for attempt := 0; ; attempt++ {
		var again bool
		again, err = n.attempt(ctx, u, body)
		if err == nil || !again || attempt == retries {
			return err
		}
		n.log().Warn("notify: trying again", "to", where(u), "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// attempt POSTs body once; again says whether trying again may help.
func (n *Notifier) attempt(ctx context.Context, u string, body []byte) (again bool, err error) {
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = DefaultNotifyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("post to %s: %w", where(u), unwrapURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shakedown/"+shakedown.Version)
	client := n.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("post to %s: %w", where(u), unwrapURLError(err))
	}
	defer resp.Body.Close()
	// The reply is read to its end, within maxReply, so that the connection can carry the
	// next message; a reply past it is not an error of the message, which was answered.
	reply, _ := endpoint.ReadAll(resp.Body, maxReply)
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		if l, err := resp.Request.URL.Parse(loc); err == nil {
			loc = l.String()
		}
		return false, fmt.Errorf("post to %s: %s to %s: a notify URL is posted to as written, never redirected", where(u), resp.Status, where(loc))
	}
	again = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
	return again, fmt.Errorf("post to %s: %s%s", where(u), resp.Status, replyExcerpt(reply))
}

// maxReply bounds the reply to one message that is read.
const maxReply = 64 << 10

// maxExcerpt bounds the beginning of an error reply shown with the error.
const maxExcerpt = 200

// replyExcerpt returns ": " and the first line of an error reply, as a receiver says why
// it refused a message (Slack's "invalid_payload", "no_service"), shortened and made
// printable; nothing for an empty reply.
func replyExcerpt(reply []byte) string {
	line, _, _ := strings.Cut(string(reply), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return ""
	}
	if r := []rune(line); len(r) > maxExcerpt {
		line = string(r[:maxExcerpt]) + "…"
	}
	return ": " + shakedown.Printable(line)
}

// noRedirects is the client a Notifier posts with by default: a redirect is an answer, not
// followed. Following one would send the message (and, for a 307 or 308, POST it again) to
// wherever the receiver says — another host, or plain http after https.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// where names a notify URL in logs by its scheme and host alone: a webhook's path is its
// secret (Slack's are).
func where(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return "a notify URL"
	}
	return pu.Scheme + "://" + pu.Host + "/…"
}

// unwrapURLError drops the *url.Error around err, which would print the whole URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.Default()
}
