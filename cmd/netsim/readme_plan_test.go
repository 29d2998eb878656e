package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/ackplan"
)

// examplePlanMarker opens a README block produced by a real run of netsim
// plan or netsim validate:
//
//	<!-- example-plan: ARGS [| [from "PREFIX"] [until "PREFIX"] [exit "N"]] -->
//	<!-- example-validate: FILE [| exit "N"] -->
//
// ARGS are netsim plan's arguments, split at spaces. from keeps the output
// from its first line that starts with PREFIX, until stops before the next
// line after it that starts with PREFIX; a block cut so says so in its
// first and last lines ("…"). exit is the exit code the example must
// have; without it a plan example must exit 0 or 1 (a report: 2 would be
// a usage error in the marker) and a validate example may exit 0 to 2.
var examplePlanMarker = regexp.MustCompile(`(?s)<!-- example-(plan|validate): ([^|]*?)(?: \| ([^>]*?))? -->\n(.*?)<!-- /example-(plan|validate) -->`)

// exampleCut is the part of a command's output a README block shows.
type exampleCut struct {
	from, until string
	// exit is the exit code the marker states, "" when it states none.
	exit string
}

// parseExampleCut reads a marker's `from "…" until "…"` options.
func parseExampleCut(t *testing.T, opts string) exampleCut {
	t.Helper()
	var c exampleCut
	rest := strings.TrimSpace(opts)
	for rest != "" {
		key, after, ok := strings.Cut(rest, " ")
		require.True(t, ok, "marker option %q has no value", rest)
		q, err := strconv.QuotedPrefix(after)
		require.NoError(t, err, "marker option %s: expected a quoted string in %q", key, after)
		v, err := strconv.Unquote(q)
		require.NoError(t, err)
		switch key {
		case "from":
			c.from = v
		case "until":
			c.until = v
		case "exit":
			c.exit = v
		default:
			require.Failf(t, "unknown marker option", "%q (want from, until or exit)", key)
		}
		rest = strings.TrimSpace(after[len(q):])
	}
	return c
}

// cutExample keeps the lines of out the cut names; it fails when a prefix
// is not found, so a renamed heading cannot empty a README block unseen.
func cutExample(t *testing.T, args []string, out string, c exampleCut) string {
	t.Helper()
	lines := strings.SplitAfter(out, "\n")
	start, end := 0, len(lines)
	if c.from != "" {
		start = -1
		for i, l := range lines {
			if strings.HasPrefix(l, c.from) {
				start = i
				break
			}
		}
		require.GreaterOrEqual(t, start, 0, "%v: no output line starts with %q", args, c.from)
	}
	if c.until != "" {
		end = -1
		for i := start + 1; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], c.until) {
				end = i
				break
			}
		}
		require.GreaterOrEqual(t, end, 0, "%v: no output line after %q starts with %q", args, c.from, c.until)
	}
	kept := lines[start:end]
	for len(kept) > 0 && strings.TrimSpace(kept[len(kept)-1]) == "" {
		kept = kept[:len(kept)-1]
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("…\n")
	}
	b.WriteString(strings.Join(kept, ""))
	if end < len(lines) && strings.Join(lines[end:], "") != "" {
		b.WriteString("…\n")
	}
	return b.String()
}

// TestREADMEExamplePlan runs the netsim plan and netsim validate command
// each example-plan / example-validate marker of the README names and
// compares the block with its output; -update rewrites the blocks (the
// flag TestREADMEExampleTrace and the plan goldens use:
// go test ./cmd/netsim -run 'TestREADME|TestPlanGolden' -update).
// A block shows the command line, then standard output and standard
// error as a user sees them, then the exit code when it is not 0.
func TestREADMEExamplePlan(t *testing.T) {
	t.Chdir("../..")
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	matches := examplePlanMarker.FindAllSubmatchIndex(readme, -1)
	require.NotEmpty(t, matches, "README.md has no <!-- example-plan: … --> block")
	var out bytes.Buffer
	last := 0
	for _, m := range matches {
		kind := string(readme[m[2]:m[3]])
		require.Equal(t, kind, string(readme[m[10]:m[11]]), "an example-%s block must end with <!-- /example-%s -->", kind, kind)
		args := append([]string{kind}, strings.Fields(string(readme[m[4]:m[5]]))...)
		var cut exampleCut
		if m[6] >= 0 {
			cut = parseExampleCut(t, string(readme[m[6]:m[7]]))
			require.True(t, kind == "plan" || cut.from == "" && cut.until == "", "only example-plan blocks are cut")
		}
		code, stdout, stderr := netsim(t, args...)
		switch {
		case cut.exit != "":
			require.Equal(t, cut.exit, fmt.Sprint(code), "%v: the marker states exit %s: %s", args, cut.exit, stderr)
		case kind == "plan":
			// A plan example shows a report: exit 2 is a usage error in the marker.
			require.LessOrEqual(t, code, exitUnmet, "%v exits %d (bad input or usage): %s", args, code, stderr)
		}
		text := cutExample(t, args, stdout, cut) + stderr
		if code != 0 {
			text += fmt.Sprintf("(exit %d)\n", code)
		}
		want := "```\n$ netsim " + strings.Join(args, " ") + "\n" + text + "```\n"
		got := string(readme[m[8]:m[9]])
		if !*update {
			assert.Equal(t, want, got, "README example for netsim %v is stale; run go test ./cmd/netsim -run TestREADMEExamplePlan -update", args)
		}
		out.Write(readme[last:m[8]])
		out.WriteString(want)
		last = m[9]
	}
	out.Write(readme[last:])
	if *update {
		require.NoError(t, os.WriteFile("README.md", out.Bytes(), 0o644))
	}
}

// TestCutExample pins the cut a marker's from/until options make.
func TestCutExample(t *testing.T) {
	out := "head\n\nCapacity x\n  a\n\nSources\n  [1]\n"
	tests := []struct {
		name string
		cut  exampleCut
		want string
	}{
		{name: "whole", want: "head\n\nCapacity x\n  a\n\nSources\n  [1]\n"},
		{name: "from", cut: exampleCut{from: "Capacity"}, want: "…\nCapacity x\n  a\n\nSources\n  [1]\n"},
		{name: "from until", cut: exampleCut{from: "Capacity", until: "Sources"}, want: "…\nCapacity x\n  a\n…\n"},
		{name: "until", cut: exampleCut{until: "Capacity"}, want: "head\n…\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, cutExample(t, nil, out, tc.cut))
		})
	}
	assert.Equal(t, exampleCut{from: "Max nodes", until: "Sources", exit: "2"}, parseExampleCut(t, `from "Max nodes" until "Sources" exit "2"`))
}

// readmeTable returns the rows of the first Markdown table after the
// heading line, as cells with the surrounding spaces and backquotes
// trimmed; the header and separator rows are left out.
func readmeTable(t *testing.T, readme, heading string) [][]string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n"+heading+"\n")
	require.True(t, ok, "README.md has no heading %q", heading)
	var rows [][]string
	in := false
	for _, line := range strings.Split(after, "\n") {
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			require.False(t, strings.HasPrefix(line, "#"), "no table under %q before the next heading", heading)
			continue
		}
		if !in {
			in = true
			continue // the header row
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i, c := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(c), "`")
		}
		rows = append(rows, cells)
	}
	require.NotEmpty(t, rows, "no table rows under %q", heading)
	return rows
}

// TestREADMERuleTable checks the README's table of planning rules against
// ackplan.Rules: every rule, in the order they run, with the severities
// its check reports (Rule.Kinds).
func TestREADMERuleTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	rows := readmeTable(t, string(readme), "#### The planning rules")
	var ids, want []string
	for _, row := range rows {
		require.GreaterOrEqual(t, len(row), 4, "row %q: ID | severity | rule | source", row)
		ids = append(ids, row[0])
	}
	for _, r := range ackplan.Rules {
		want = append(want, r.ID)
	}
	require.Equal(t, want, ids, "the README's rule table lists every rule of ackplan.Rules, in order")
	for i, r := range ackplan.Rules {
		kinds := make([]string, len(r.Kinds))
		for j, k := range r.Kinds {
			kinds[j] = string(k)
		}
		assert.Equal(t, strings.Join(kinds, ", "), rows[i][1], "rule %s: the README's severity column is the rule's Kinds", r.ID)
	}
}

// TestREADMEPlanFiles checks the README's table of bundled plan files
// against scenarios/plan-*.yaml and against planScenarios: every file,
// and the rules each one trips.
func TestREADMEPlanFiles(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	rows := readmeTable(t, string(readme), "#### Bundled plan files")
	listed := map[string]string{}
	for _, row := range rows {
		require.Len(t, row, 4, "row %q: file | CNI | what it shows | rule it trips", row)
		_, dup := listed[row[0]]
		require.False(t, dup, "%s is listed twice", row[0])
		listed[row[0]] = row[3]
	}
	files, err := filepath.Glob("../../scenarios/plan-*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	require.Len(t, listed, len(files), "the README lists each bundled plan file once")
	for _, ps := range planScenarios {
		name := "scenarios/" + ps.file
		rules, ok := listed[name]
		if !assert.True(t, ok, "README's bundled plan files table has no row for %s", name) {
			continue
		}
		want := "—"
		if len(ps.rules) > 0 {
			want = strings.Join(ps.rules, "`, `")
		}
		assert.Equal(t, want, rules, "%s: the rules it trips", name)
	}
}

// TestREADMEListsEveryScenario checks that the README names every
// bundled scenario file (the scenarios table of "Using it", the plan files
// in "Bundled plan files").
func TestREADMEListsEveryScenario(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		name := "`scenarios/" + filepath.Base(f) + "`"
		assert.Contains(t, string(readme), name, "README.md does not list %s", name)
	}
}
