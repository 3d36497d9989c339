package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// The JSON API: the pages' data, for programs. Every answer is JSON, errors included
// ({"error": "...", "status": N}).

func (d *dashboard) apiExperiments(w http.ResponseWriter, r *http.Request) {
	exps, err := d.homeData(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	if exps == nil {
		exps = []experimentView{}
	}
	writeJSON(w, http.StatusOK, exps)
}

func (d *dashboard) apiExperiment(w http.ResponseWriter, r *http.Request) {
	ed, err := d.readExperiment(r, r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ed)
}

// apiRun answers the run's whole record, as run --json writes it.
func (d *dashboard) apiRun(w http.ResponseWriter, r *http.Request) {
	rec, err := d.o.Store.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (d *dashboard) apiSchedules(w http.ResponseWriter, r *http.Request) {
	ss := d.schedules()
	if ss == nil {
		ss = []Schedule{}
	}
	writeJSON(w, http.StatusOK, ss)
}

func (d *dashboard) apiLive(w http.ResponseWriter, r *http.Request) {
	ls := d.live(r)
	if ls == nil {
		ls = []LiveRun{}
	}
	writeJSON(w, http.StatusOK, ls)
}

// StopRequest is the body of POST /api/runs/ID/stop: empty, or a JSON object.
type StopRequest struct {
	// Reason is said in the run's record beside who stopped it.
	Reason string `json:"reason,omitempty"`
}

// MaxReason is the longest reason a stop request may give.
const MaxReason = 200

// DecodeStopRequest reads a stop request's body: empty (no reason), or one JSON object with
// only the fields StopRequest has (KindInvalid otherwise).
func DecodeStopRequest(b []byte) (StopRequest, error) {
	var req StopRequest
	if len(bytes.TrimSpace(b)) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return StopRequest{}, shakedown.Errorf(shakedown.KindInvalid, "the body is not a stop request ({\"reason\": \"…\"}): %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return StopRequest{}, shakedown.Errorf(shakedown.KindInvalid, "the body holds more than one JSON value")
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if len(req.Reason) > MaxReason {
		return StopRequest{}, shakedown.Errorf(shakedown.KindInvalid, "the reason is longer than %d bytes", MaxReason)
	}
	for _, c := range req.Reason {
		if c < ' ' || c == 0x7f {
			return StopRequest{}, shakedown.Errorf(shakedown.KindInvalid, "the reason holds a control character")
		}
	}
	return req, nil
}

// StopAnswer is what POST /api/runs/ID/stop answers when the run was stopped.
type StopAnswer struct {
	ID      string `json:"id"`
	Stopped bool   `json:"stopped"`
	By      string `json:"by"`
}

// apiStop stops a live run through Options.Stop, saying who asked: the dashboard, with the
// write token, from where.
func (d *dashboard) apiStop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBody))
		return
	}
	req, err := DecodeStopRequest(body)
	if err != nil {
		writeErr(w, err)
		return
	}
	if d.o.Stop == nil {
		writeError(w, http.StatusNotImplemented, "this dashboard cannot stop runs")
		return
	}
	by := "dashboard write token"
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		by += " from " + host
	}
	if req.Reason != "" {
		by += ": " + req.Reason
	}
	if err := d.o.Stop(r.Context(), id, by); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, StopAnswer{ID: id, Stopped: true, By: by})
}
