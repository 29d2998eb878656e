package topology

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/internal/fuzzguard"
)

// fuzzScenarioName is the file name fuzz inputs are parsed under: in the
// bundled scenarios' directory, so that a seed's manifests resolve.
const fuzzScenarioName = "../scenarios/fuzz-input.yaml"

// brokenScenarios are seeds no bundled file covers: syntax errors, wrong
// types, null items, aliases and merge keys, a second document.
var brokenScenarios = []string{
	"",
	"\xef\xbb\xbf",
	"name: x\n---\nname: y\n",
	"name: x\nnodes:\n  -\n  - name: n\n",
	"name: x\nnodes: &a [*a]\n",
	"a: &a {x: 1}\nb: {<<: *a}\n",
	"name: x\ncluster:\n  nodeCIDRMask: 24.5\n",
	"name: x\nflows:\n  - {from: pod/a, to: pod/b, port: 8080.7, count: -1}\n",
	"\x00\x01\x02\xff\xfe",
	"name: x\n\tbad: tab\n",
	"name: x\nresources:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p}\n",
	"name: x\nmanifests: [manifests/web.yaml]\n",
}

// addScenarioSeeds adds every bundled scenario and every scenario of
// testdata/good and testdata/bad, then the broken ones above.
func addScenarioSeeds(f *testing.F) {
	for _, data := range fuzzguard.Files(f, "../scenarios/*.yaml", "testdata/good/*.yaml", "testdata/bad/*.yaml") {
		f.Add(data)
	}
	for _, s := range brokenScenarios {
		f.Add([]byte(s))
	}
}

// FuzzParse feeds arbitrary bytes to the scenario loader: it must return
// a scenario or a Problems error, never panic, within 2 s and 512 MiB,
// and every problem must carry a message and a line that exists.
func FuzzParse(f *testing.F) {
	addScenarioSeeds(f)
	f.Fuzz(checkParse)
}

func checkParse(t *testing.T, data []byte) {
	if len(data) > fuzzguard.MaxInput {
		return
	}
	var (
		s   *Scenario
		err error
	)
	fuzzguard.Run(t, fuzzguard.Default, "Parse", func() { s, err = Parse(fuzzScenarioName, data) })
	if err == nil {
		require.NotNil(t, s, "Parse returned neither a scenario nor an error")
		return
	}
	require.Nil(t, s, "Parse returned a scenario and an error")
	var ps Problems
	require.True(t, errors.As(err, &ps), "Parse's error is not a Problems: %T %v", err, err)
	require.NotEmpty(t, ps)
	lines := yamlLines(string(data))
	for _, p := range ps {
		require.NotEmpty(t, p.Msg, "problem without a message: %+v", p)
		if p.File == fuzzScenarioName {
			require.LessOrEqual(t, p.Line, lines, "problem points past the end of the file (%d lines): %s", lines, p)
		}
	}
}

// TestFuzzPendingParse runs the pending corpus of FuzzParse (inputs whose
// fix is in another change; see internal/fuzzguard) when
// NETSIM_FUZZ_PENDING is set.
func TestFuzzPendingParse(t *testing.T) {
	if os.Getenv(fuzzguard.PendingEnv) == "" {
		t.Skip("set " + fuzzguard.PendingEnv + "=1 to run testdata/fuzz-pending/FuzzParse")
	}
	for name, vals := range fuzzguard.Pending(t, "FuzzParse") {
		t.Run(name, func(t *testing.T) { checkParse(t, vals[0].([]byte)) })
	}
}

// yamlLines counts the lines of text as YAML does: a line ends at "\r\n",
// "\n", a lone "\r" (as in old Mac files, which editors show as lines too)
// or U+0085, U+2028 or U+2029.
func yamlLines(text string) int {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	n := 1
	for _, r := range text {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
