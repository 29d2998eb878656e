package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const nsManifest = "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n"

func TestManifestsAreReadOnceAndBounded(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	write("a.yaml", fmt.Sprintf(nsManifest, "a"))
	require.NoError(t, os.Symlink("a.yaml", filepath.Join(dir, "link.yaml")))
	require.NoError(t, os.Link(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "hard.yaml")))
	var many []string
	for i := range MaxManifests + 1 {
		name := fmt.Sprintf("m%d.yaml", i)
		write(name, fmt.Sprintf(nsManifest, fmt.Sprintf("ns%d", i)))
		many = append(many, name)
	}
	tests := []struct {
		name      string
		manifests []string
		want      string // "" loads
	}{
		{"one", []string{"a.yaml"}, ""},
		{"through a symlink", []string{"a.yaml", "link.yaml"}, `manifests[1]: "link.yaml" is the same file as manifests[0] ("a.yaml")`},
		{"a hard link", []string{"a.yaml", "hard.yaml"}, `manifests[1]: "hard.yaml" is the same file as manifests[0] ("a.yaml")`},
		{"dot slash", []string{"a.yaml", "./a.yaml"}, `manifests[1]: "./a.yaml" is the same file as manifests[0] ("a.yaml")`},
		{"the most", many[:MaxManifests], ""},
		{"one too many", many, fmt.Sprintf("manifests[%d]: more than %d manifests", MaxManifests, MaxManifests)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scen := filepath.Join(dir, fmt.Sprintf("s%d.yaml", i))
			require.NoError(t, os.WriteFile(scen, []byte(smallScenario+"manifests: ["+strings.Join(tt.manifests, ", ")+"]\n"), 0o644))
			_, err := Load(scen)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
