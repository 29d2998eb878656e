package k8s

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/internal/fuzzguard"
)

// brokenManifests are seeds the bundled manifests do not cover.
var brokenManifests = []string{
	"",
	"---\n---\n",
	"\xef\xbb\xbfapiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
	"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n    - name: c\n      ports: [{containerPort: 8080.5}]\n",
	"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: [{name: c}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: a}\n  ports: [{port: 80, targetPort: http}]\n",
	"a: &a [1, 2]\nb: [*a, *a]\n",
	"base: &b {apiVersion: v1}\nobj: {<<: *b, kind: Pod}\n",
	"- just\n- a list\n",
	"apiVersion: v1\nkind: List\nitems: []\n",
	"\x00\xff\xfe binary",
}

// FuzzDecode feeds arbitrary bytes to the manifest decoder, then expands
// the objects (Deployments to pods, placement on nodes): never a panic,
// within 2 s and 512 MiB per input, every error with a message.
func FuzzDecode(f *testing.F) {
	for _, data := range fuzzguard.Files(f, "../../scenarios/manifests/*.yaml", "testdata/good/*.yaml", "testdata/bad/*.yaml") {
		f.Add(data, int64(1))
	}
	for _, s := range brokenManifests {
		f.Add([]byte(s), int64(7))
	}
	f.Fuzz(checkDecode)
}

func checkDecode(t *testing.T, data []byte, seed int64) {
	if len(data) > fuzzguard.MaxInput {
		return
	}
	var (
		objs *Objects
		errs Errors
	)
	fuzzguard.Run(t, fuzzguard.Default, "Decode+Objects", func() {
		d := NewDecoder(Options{Nodes: []string{"node-1", "node-2"}, Seed: seed})
		d.Decode("fuzz.yaml", data)
		objs, errs = d.Objects()
	})
	require.NotNil(t, objs)
	for _, e := range errs {
		require.NotEmpty(t, e.Msg, "error without a message: %+v", e)
	}
}

// TestFuzzPendingDecode runs the pending corpus of FuzzDecode (inputs
// whose fix is in another change; see internal/fuzzguard) when
// NETSIM_FUZZ_PENDING is set.
func TestFuzzPendingDecode(t *testing.T) {
	if os.Getenv(fuzzguard.PendingEnv) == "" {
		t.Skip("set " + fuzzguard.PendingEnv + "=1 to run testdata/fuzz-pending/FuzzDecode")
	}
	for name, vals := range fuzzguard.Pending(t, "FuzzDecode") {
		t.Run(name, func(t *testing.T) { checkDecode(t, vals[0].([]byte), int64(vals[1].(uint64))) })
	}
}
