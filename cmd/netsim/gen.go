package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"netsim/topology/gen"
)

// cmdGen writes a generated scenario of --nodes nodes × --pods pods for
// one CNI (package topology/gen) to stdout or to -o FILE.
func cmdGen(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("gen", stdout, stderr)
	cni := fs.String("cni", "", "the CNI: "+strings.Join(gen.Modes(), ", "))
	nodes := fs.Int("nodes", 0, fmt.Sprintf("the number of nodes (2 to %d)", gen.MaxNodes))
	pods := fs.Int("pods", 0, fmt.Sprintf("the pods on each node (2 to %d)", gen.MaxPods))
	out := fs.StringP("output", "o", "", "write the scenario to `FILE` (default stdout)")
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim gen: %v\n", err)
		return exitBadInput
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "netsim gen: takes no arguments, got %s (run \"netsim gen --help\")\n", strings.Join(fs.Args(), " "))
		return exitBadInput
	}
	if *cni == "" || *nodes == 0 || *pods == 0 {
		fmt.Fprintf(stderr, "netsim gen: --cni, --nodes and --pods are required (run \"netsim gen --help\")\n")
		return exitBadInput
	}
	o := gen.Options{CNI: *cni, Nodes: *nodes, Pods: *pods}
	if *out == "" {
		if err := gen.Write(stdout, o); err != nil {
			fmt.Fprintf(stderr, "netsim %v\n", err)
			return exitBadInput
		}
		return exitOK
	}
	data, err := gen.Generate(o)
	if err != nil {
		fmt.Fprintf(stderr, "netsim %v\n", err)
		return exitBadInput
	}
	if err := writeNew(*out, data, *force); err != nil {
		fmt.Fprintf(stderr, "netsim gen: -o %s: %v\n", *out, err)
		return exitBadInput
	}
	return exitOK
}

// writeNew writes data to path through a temporary file renamed over it;
// an existing file is replaced only with force.
func writeNew(path string, data []byte, force bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return errors.New("is a directory: expected a file name")
	case err == nil && !force:
		return errors.New("exists: remove it, choose another name, or add --force")
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".netsim-gen-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
