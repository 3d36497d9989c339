package shakedown

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Kind says what sort of failure an error is. Each kind maps to one exit code and one HTTP
// status, in ExitCode and HTTPStatus: the only place where that mapping lives.
type Kind int

// The kinds of error. The zero value is KindInternal.
const (
	KindInternal    Kind = iota // the tool or the environment failed (exit 5)
	KindInvalid                 // bad usage or experiment file; nothing was injected (exit 2)
	KindNotFound                // a target or resource resolved to nothing (exit 5)
	KindPermission              // not allowed: not root, forbidden verb (exit 5)
	KindUnavailable             // a daemon or endpoint could not be reached (exit 5)
	KindConflict                // already exists, address in use (exit 5)
	KindFailed                  // a check or an expectation did not hold (exit 1)
	KindAborted                 // a stop condition fired or the run was cancelled (exit 3)
	KindNotRestored             // a revert failed or the system did not recover (exit 4)
	KindNotSteady               // the baseline did not hold (exit 6)
	KindRegressed               // a figure got worse than its reference runs (exit 7)
)

var kindNames = [...]string{
	KindInternal:    "internal",
	KindInvalid:     "invalid",
	KindNotFound:    "not found",
	KindPermission:  "permission denied",
	KindUnavailable: "unavailable",
	KindConflict:    "conflict",
	KindFailed:      "failed",
	KindAborted:     "aborted",
	KindNotRestored: "not restored",
	KindNotSteady:   "not steady",
	KindRegressed:   "regressed",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Verdict returns the verdict a run ends with when it fails with an error of this kind.
func (k Kind) Verdict() Verdict {
	switch k {
	case KindInvalid:
		return VerdictInvalid
	case KindFailed:
		return VerdictFailed
	case KindAborted:
		return VerdictAborted
	case KindNotRestored:
		return VerdictNotRestored
	case KindNotSteady:
		return VerdictNotSteady
	case KindRegressed:
		return VerdictRegressed
	default:
		return VerdictError
	}
}

// ExitCode returns the process exit code for an error of this kind.
func (k Kind) ExitCode() int { return k.Verdict().ExitCode() }

// HTTPStatus returns the HTTP status an API answers an error of this kind with.
func (k Kind) HTTPStatus() int {
	switch k {
	case KindInvalid:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindPermission:
		return http.StatusForbidden
	case KindConflict:
		return http.StatusConflict
	case KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// KindOfStatus is HTTPStatus read backwards, for clients of HTTP APIs (the proxy daemon, a
// container engine): the kind of error a status answers. 401 is a permission problem too, and
// 304 (an engine's "already in that state") a conflict.
func KindOfStatus(status int) Kind {
	switch status {
	case http.StatusUnauthorized:
		return KindPermission
	case http.StatusNotModified:
		return KindConflict
	}
	for _, k := range []Kind{KindInvalid, KindNotFound, KindPermission, KindConflict, KindUnavailable} {
		if k.HTTPStatus() == status {
			return k
		}
	}
	return KindInternal
}

// Error is shakedown's error type. Op names the operation that failed ("inject
// process.pause on web"); Err is the cause.
type Error struct {
	Kind Kind
	Op   string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Op == "" && e.Err == nil:
		return e.Kind.String()
	case e.Op == "":
		return e.Err.Error()
	case e.Err == nil:
		return e.Op
	default:
		return e.Op + ": " + e.Err.Error()
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Kind: k}) true for any *Error of kind k in err's chain.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Err == nil && t.Kind == e.Kind
}

// Errorf returns an *Error of the given kind whose cause is fmt.Errorf(format, args...); %w
// wraps as usual.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Wrap returns err as an *Error of the given kind with op prepended, or nil when err is nil.
func Wrap(kind Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Op: op, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, KindInternal when there is
// none, and KindAborted for context cancellation.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return KindAborted
	}
	return KindInternal
}

// Join returns the errors of a step that goes through every item (each target of an
// experiment, say) as one *Error, each problem on its own line: nil when every one is nil,
// the error itself when there is one. Its kind, and so the exit code, is the kind of the
// first error whose verdict is the most severe (as a suite orders them): an invalid file
// before an error of the environment, whatever the order of the items. Unjoin gives the
// problems back.
func Join(errs ...error) error {
	var list []error
	var worst error
	for _, err := range errs {
		if err == nil {
			continue
		}
		list = append(list, err)
		if worst == nil || KindOf(err).Verdict().severity() > KindOf(worst).Verdict().severity() {
			worst = err
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return &Error{Kind: KindOf(worst), Err: errors.Join(list...)}
}

// IsKind reports whether err has an *Error of kind k in its chain.
func IsKind(err error, k Kind) bool { return errors.Is(err, &Error{Kind: k}) }
