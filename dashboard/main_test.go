package dashboard_test

import (
	"os"
	"testing"

	"github.com/shakedown-dev/shakedown/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }
