package main

import (
	"fmt"
	"io"

	"netsim/topology"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stdout, stderr)
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	r, code := loadWorld(file, stderr)
	if r == nil {
		return code
	}
	s := r.World.Scenario
	fmt.Fprintf(stdout, "%s: ok — scenario %s\n", file, s.Name)
	if s.Description != "" {
		fmt.Fprintf(stdout, "  %s\n", s.Description)
	}
	topology.WriteOverview(stdout, r.World)
	return exitOK
}

func cmdShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("show", stdout, stderr)
	node := fs.String("node", "", "show only this node, instance or pod (NS/NAME)")
	after := fs.String("after", "", "first apply the actions up to and including the flow or action `NAME`")
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	r, code := loadWorld(file, stderr)
	if r == nil {
		return code
	}
	if *after != "" {
		done, err := r.World.ApplyThrough(*after)
		if err != nil {
			return badInput(stderr, err)
		}
		for _, a := range done {
			fmt.Fprintf(stdout, "# after action: %s\n", a.Text)
		}
	}
	if err := topology.WriteState(stdout, r.World, *node); err != nil {
		fmt.Fprintf(stderr, "netsim show: %v\n", err)
		return exitBadInput
	}
	return exitOK
}
