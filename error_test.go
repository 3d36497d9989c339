package shakedown_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/shakedown-dev/shakedown"
)

func TestJoin(t *testing.T) {
	notFound := shakedown.Errorf(shakedown.KindNotFound, "target web resolved to nothing")
	notFound2 := shakedown.Errorf(shakedown.KindNotFound, "target db resolved to nothing")
	invalid := shakedown.Errorf(shakedown.KindInvalid, "target x: unknown kind")
	perm := shakedown.Errorf(shakedown.KindPermission, "target y selects 3 instances")
	plain := fmt.Errorf("plain")
	for _, tc := range []struct {
		name  string
		errs  []error
		kind  shakedown.Kind
		split int // problems shakedown.Unjoin gives back; 0: shakedown.Join returns nil
	}{
		{name: "none", errs: nil},
		{name: "only nil", errs: []error{nil, nil}},
		{name: "one", errs: []error{nil, notFound}, kind: shakedown.KindNotFound, split: 1},
		{name: "two of one kind", errs: []error{notFound, nil, notFound2}, kind: shakedown.KindNotFound, split: 2},
		{name: "the first of the most severe", errs: []error{perm, notFound}, kind: shakedown.KindPermission, split: 2},
		{name: "invalid wherever it stands", errs: []error{notFound, perm, invalid}, kind: shakedown.KindInvalid, split: 3},
		{name: "cancellation below an error", errs: []error{context.Canceled, notFound}, kind: shakedown.KindNotFound, split: 2},
		{name: "an error with no kind", errs: []error{plain, notFound}, kind: shakedown.KindInternal, split: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := shakedown.Join(tc.errs...)
			if tc.split == 0 {
				if err != nil {
					t.Fatalf("shakedown.Join(%v) = %v, want nil", tc.errs, err)
				}
				return
			}
			if got := shakedown.KindOf(err); got != tc.kind {
				t.Errorf("shakedown.Join(%v): kind %v, want %v", tc.errs, got, tc.kind)
			}
			ps := shakedown.Unjoin(err)
			if len(ps) != tc.split {
				t.Fatalf("shakedown.Unjoin(shakedown.Join(%v)) = %d problems %v, want %d", tc.errs, len(ps), ps, tc.split)
			}
			for _, e := range tc.errs {
				if e != nil && !errors.Is(err, e) {
					t.Errorf("shakedown.Join(%v) does not wrap %v", tc.errs, e)
				}
			}
		})
	}
}

func TestUnjoinOneProblem(t *testing.T) {
	// An operation around several is one problem of that operation.
	wrapped := shakedown.Wrap(shakedown.KindUnavailable, "connect target web", errors.Join(errors.New("host a"), errors.New("host b")))
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: 0},
		{name: "plain", err: errors.New("x"), want: 1},
		{name: "an operation around a join", err: wrapped, want: 1},
		{name: "a join inside one of several", err: shakedown.Join(wrapped, shakedown.Errorf(shakedown.KindNotFound, "target db resolved to nothing")), want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(shakedown.Unjoin(tc.err)); got != tc.want {
				t.Errorf("shakedown.Unjoin(%v): %d problems, want %d", tc.err, got, tc.want)
			}
		})
	}
}
