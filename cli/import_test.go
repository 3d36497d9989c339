package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUsedVars checks that an imported experiment's ${vars} are those of its values: not
// those its comments quote, nor a literal "$${".
func TestUsedVars(t *testing.T) {
	yaml := "# Imported from x.json, whose ${quoted} stays a comment\n" +
		"description: \"Stop in $${AWS::Region}\"\n" +
		"steady_state:\n  - name: up\n    # GET ${base_url}/healthz\n    http: {url: \"${base_url}/healthz\", headers: {A: \"${token} ${base_url}\"}}\n"
	if diff := cmp.Diff([]string{"base_url", "token"}, usedVars([]byte(yaml))); diff != "" {
		t.Errorf("usedVars (-want +got):\n%s", diff)
	}
}
