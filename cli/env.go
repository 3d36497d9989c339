package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"

	"github.com/shakedown-dev/shakedown"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := unwrapWriter(w).(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// commitInfo finds the commit under test: from the CI's variables when set, else from git in
// dir. It returns nil when none is known.
func commitInfo(getenv func(string) string, dir string) *shakedown.Commit {
	for _, ci := range []struct{ sha, branch string }{
		{"GITHUB_SHA", "GITHUB_REF_NAME"},
		{"CI_COMMIT_SHA", "CI_COMMIT_REF_NAME"},
	} {
		if sha := getenv(ci.sha); sha != "" {
			return &shakedown.Commit{SHA: sha, Branch: getenv(ci.branch), Source: ci.sha}
		}
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout = &out
		if cmd.Run() != nil {
			return ""
		}
		return strings.TrimSpace(out.String())
	}
	sha := git("rev-parse", "HEAD")
	if sha == "" {
		return nil
	}
	branch := git("rev-parse", "--abbrev-ref", "HEAD")
	if branch == "HEAD" {
		branch = ""
	}
	return &shakedown.Commit{SHA: sha, Branch: branch, Source: "git"}
}
