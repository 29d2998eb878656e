package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

const restore = "../../scenarios/flannel-alivpc-restore.yaml"

// TestShowAfter: show --after NAME prints the state a run has when it
// reaches the item NAME, deleted entries marked.
func TestShowAfter(t *testing.T) {
	tests := []struct {
		name, after string
		code        int
		stdout      []string
		absent      []string
		stderr      []string
	}{
		{name: "before any action", after: "", code: exitOK, absent: []string{"DELETED", "# after action"}},
		{name: "after the deletion", after: "to-node-3-fails", code: exitOK,
			stdout: []string{"# after action: vpc route delete 172.20.2.0/24 next hop node-3", "172.20.2.0/24 → ECS instance node-3 (", "— DELETED"}},
		{name: "after the restore", after: "restore-route", code: exitOK,
			stdout: []string{"# after action: vpc route add 172.20.2.0/24 next hop node-3", "[added by hand (action)]"}, absent: []string{"DELETED"}},
		{name: "no such item", after: "restor-route", code: exitBadInput,
			stderr: []string{`no flow or action named "restor-route"`, `did you mean "restore-route"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"show", restore}
			if tt.after != "" {
				args = append(args, "--after", tt.after)
			}
			code, stdout, stderr := netsim(t, args...)
			assert.Equal(t, tt.code, code, stderr)
			for _, s := range tt.stdout {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tt.absent {
				assert.NotContains(t, stdout, s)
			}
			for _, s := range tt.stderr {
				assert.Contains(t, stderr, s)
			}
		})
	}
}

// TestRunRestore: the bundled story runs, every expectation met, the
// actions in the report.
func TestRunRestore(t *testing.T) {
	code, stdout, stderr := netsim(t, "run", restore, "--summary")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "----  restore-route")
	assert.Contains(t, stdout, "6 of 6 flows met their expectation")
}
