package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"netsim/topology/yamlbound"
)

// checkManifest says why the manifest file (dir is the scenario file's
// directory) is not read, or "" when it is fine: it must exist, be a
// regular file of at most yamlbound.MaxFileBytes, and lie in the
// directory tree of the scenario file, symbolic links resolved, unless
// the scenario was loaded with LoadOptions.AllowOutside. A fine manifest
// comes with its stat information (symbolic links followed).
func (s *Scenario) checkManifest(dir, file string) (fs.FileInfo, string) {
	info, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Sprintf("manifest %s does not exist (manifests are relative to the scenario file's directory)", file)
	case err != nil:
		return nil, fmt.Sprintf("cannot read manifest %s: %v", file, errors.Unwrap(err))
	case info.IsDir():
		return nil, fmt.Sprintf("%s is a directory: list the manifest files in it", file)
	}
	if err := yamlbound.CheckFile(file, "manifest"); err != nil {
		var fe *yamlbound.FileError
		if errors.As(err, &fe) {
			return nil, fmt.Sprintf("manifest %s: %s", file, fe.Msg)
		}
		return nil, err.Error()
	}
	if s.opts.AllowOutside {
		return info, ""
	}
	inside, err := yamlbound.Inside(dir, file)
	if err != nil {
		return nil, fmt.Sprintf("cannot resolve manifest %s: %v", file, err)
	}
	if !inside {
		return nil, fmt.Sprintf("manifest %s is outside the scenario file's directory %s (after following symbolic links): netsim reads manifests only from that directory tree unless run with --allow-outside", file, dir)
	}
	return info, ""
}
