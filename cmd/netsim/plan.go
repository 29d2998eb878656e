package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"netsim/topology"
	"netsim/topology/ack"
	"netsim/topology/ackplan"
	"netsim/topology/hint"
)

// `netsim plan`: check a network plan against the planning rules and
// report its capacity (FILE), list the rules (--rules), or propose a plan
// (--suggest).

// Bounds of the --suggest flags, each with where it comes from.
const (
	// planMaxNodes is ACK's largest cluster: ACK Pro with Terway, 15,000
	// nodes on request ("Terway 15,000 (5,000 default)" —
	// https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel).
	planMaxNodes = 15000
	// planMaxPodsPerNode bounds --pods-per-node at a /16 of addresses
	// per node: far past any CNI's figure (Flannel /24: 255; Terway:
	// (EniQuantity − 1) × EniPrivateIpAddressQuantity), so only a typo
	// is refused here and the suggester says what fits.
	planMaxPodsPerNode = 65534
	// planMinVPCMask, planMaxVPCMask: the rule table's (CreateVpc "The
	// subnet mask must be 8 to 28 bits in length").
	planMinVPCMask = ackplan.MinVPCMask
	planMaxVPCMask = ackplan.MaxVPCMask
)

// planMaxServices is the most Services an ACK Service CIDR holds: ACK's
// largest is a /ackplan.MinServiceMask (CreateCluster service_cidr,
// "/16-24"), whose ClusterIPs are ackplan.AllocatableClusterIPs, one of
// them the kubernetes Service's.
var planMaxServices = ackplan.AllocatableClusterIPs(netip.PrefixFrom(netip.IPv4Unspecified(), ackplan.MinServiceMask)) - 1

// planCNIs are the --cni values (ackplan.Request.CNI).
var planCNIs = []string{"flannel-alivpc", "flannel-vxlan", "terway", "terway-exclusive", "calico"}

// zoneRE is an Alibaba Cloud zone ID, e.g. cn-hangzhou-h.
var zoneRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// suggestPlan is the suggester (a variable so a test can give the CLI a
// NoPlanError to print).
var suggestPlan = ackplan.Suggest

// suggestFlags are the flags only --suggest takes.
var suggestFlags = []string{"vpc", "nodes", "pods-per-node", "cni", "zones", "instance-type", "services"}

func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plan", stdout, stderr)
	out := fs.StringP("output", "o", "", "output `FORMAT`: text or json (FILE, --rules; default text), yaml or json (--suggest; default yaml)")
	compare := fs.Bool("compare", false, "also plan the same VPC and workload as Flannel ali-vpc, Flannel VXLAN and Terway, side by side")
	rules := fs.Bool("rules", false, "list the planning rules: ID, the severities each reports, title and source")
	suggest := fs.Bool("suggest", false, "propose a valid plan (needs --vpc, --nodes, --pods-per-node and --cni) and print it as scenario YAML")
	vpc := fs.String("vpc", "", "--suggest: the VPC's IPv4 `CIDR`, /8 to /28, e.g. 192.168.0.0/16")
	nodes := fs.Int("nodes", 0, "--suggest: the nodes the cluster must hold, `N` ≥ 1")
	ppn := fs.Int("pods-per-node", 0, "--suggest: the pods each node must run, `P` ≥ 1")
	cni := fs.String("cni", "", "--suggest: the CNI `MODE`: "+strings.Join(planCNIs, ", "))
	zones := fs.StringSlice("zones", nil, "--suggest: the `ZONES` to spread the nodes over, e.g. cn-hangzhou-h,cn-hangzhou-i")
	itype := fs.String("instance-type", "", "--suggest: the nodes' ECS `TYPE` (default "+ack.DefaultInstanceType+")")
	services := fs.Int("services", 0, "--suggest: the Services the Service CIDR must hold, `S` (default: ACK's example /20)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim plan: %v\n", err)
		return exitBadInput
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "netsim plan: "+format+"\n", a...)
		return exitBadInput
	}
	var given []string
	for _, f := range suggestFlags {
		if fs.Changed(f) {
			given = append(given, "--"+f)
		}
	}
	switch {
	case *rules && (*suggest || fs.NArg() > 0 || *compare || len(given) > 0):
		return usageErr("--rules lists the rule table and takes no FILE, --suggest, --compare or --suggest flags")
	case *rules:
		if *out != "" && *out != "text" && *out != "json" {
			return usageErr("-o %q: expected text or json", *out)
		}
		return writeRules(stdout, stderr, *out == "json")
	case *suggest && fs.NArg() > 0:
		return usageErr("FILE (%s) and --suggest are exclusive: check a plan, or suggest one", strings.Join(fs.Args(), " "))
	case *suggest && *compare:
		return usageErr("--compare compares a plan FILE, not --suggest (check the suggested plan with netsim plan FILE --compare)")
	case *suggest:
		if *out != "" && *out != "yaml" && *out != "json" {
			return usageErr("-o %q: expected yaml or json with --suggest", *out)
		}
		req, msg := suggestRequest(fs, *vpc, *nodes, *ppn, *cni, *zones, *itype, *services)
		if msg != "" {
			return usageErr("%s", msg)
		}
		return runSuggest(stdout, stderr, req, *out == "json")
	case len(given) > 0:
		return usageErr("%s: only with --suggest (netsim plan --suggest --vpc CIDR --nodes N --pods-per-node P --cni MODE); a plan FILE says its own figures", joinAnd(given))
	}
	switch fs.NArg() {
	case 1:
	case 0:
		return usageErr("missing the plan FILE, or --rules, or --suggest (run \"netsim plan --help\")")
	default:
		return usageErr("expected one plan FILE, got %d arguments (%s)", fs.NArg(), strings.Join(fs.Args(), " "))
	}
	if *out != "" && *out != "text" && *out != "json" {
		return usageErr("-o %q: expected text or json", *out)
	}
	return checkPlan(fs.Arg(0), stdout, stderr, *out == "json", *compare)
}

// checkPlan loads FILE, runs the rules, computes the capacity and prints
// them; exit 0 when every rule passed, 1 when one reported an error or a
// warning.
func checkPlan(file string, stdout, stderr io.Writer, asJSON, compare bool) int {
	pc, err := topology.LoadPlan(file, loadOptions)
	if err != nil {
		return planBadInput(stderr, err)
	}
	capa := ackplan.ComputeCapacity(parsedPlan(pc))
	var cmp *ackplan.Comparison
	if compare {
		c, err := ackplan.Compare(pc.Plan)
		if err != nil {
			fmt.Fprintf(stderr, "netsim plan: --compare: %v\n", err)
			return exitBadInput
		}
		cmp = &c
	}
	report := newPlanReport(file, pc, capa, cmp)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintf(stderr, "netsim plan: -o json: %v\n", err)
			return exitBadInput
		}
	} else if err := writePlanText(stdout, report, capa, cmp); err != nil {
		fmt.Fprintf(stderr, "netsim plan: %v\n", err)
		return exitBadInput
	}
	if report.failed() {
		return exitUnmet
	}
	return exitOK
}

// parsedPlan is pc's plan with only the fields that did not parse marked
// invalid: Check also marks the fields a rule reported an error at, but a
// value that breaks a rule still has figures (a pod CIDR too small for
// the nodes still holds 256 node subnets), and the capacity report shows
// them next to the rule's ERROR.
func parsedPlan(pc *topology.PlanCheck) *ackplan.Plan {
	p := *pc.Plan
	ruled := map[string]bool{}
	for _, f := range pc.Result.Findings() {
		if f.Severity == ackplan.Error {
			ruled[f.Path] = true
		}
	}
	p.Invalid = slices.DeleteFunc(slices.Clone(p.Invalid), func(path string) bool { return ruled[path] })
	return &p
}

// planBadInput prints what keeps the plan from being read.
func planBadInput(stderr io.Writer, err error) int {
	var probs topology.Problems
	if errors.As(err, &probs) {
		fmt.Fprintf(stderr, "%s\n", probs.Error())
		fmt.Fprintf(stderr, "netsim plan: %d problem(s) keep the plan from being checked\n", len(probs))
		return exitBadInput
	}
	fmt.Fprintf(stderr, "netsim plan: %s\n", topology.Printable(err.Error()))
	return exitBadInput
}

// planReport is `netsim plan -o json`'s object; the text report prints
// the same.
type planReport struct {
	File       string              `json:"file"`
	CNI        string              `json:"cni"`
	Nodes      int                 `json:"nodes_planned"`
	Pools      []planPool          `json:"pools"`
	Rules      []planRule          `json:"rules"`
	Capacity   ackplan.Capacity    `json:"capacity"`
	Comparison *ackplan.Comparison `json:"comparison,omitempty"`
}

type planPool struct {
	Name         string `json:"name"`
	VSwitch      string `json:"vswitch"`
	Nodes        int    `json:"nodes"`
	InstanceType string `json:"instance_type"`
}

type planRule struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Source  string `json:"source"`
	Applied bool   `json:"applied"`
	// Status is "ok", "error", "warning" or "n/a".
	Status   string        `json:"status"`
	NotWhy   string        `json:"not_applicable,omitempty"`
	Findings []planFinding `json:"findings"`
}

type planFinding struct {
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path"`
	Message  string `json:"message"`
}

func newPlanReport(file string, pc *topology.PlanCheck, capa ackplan.Capacity, cmp *ackplan.Comparison) *planReport {
	r := &planReport{File: file, CNI: capa.CNI, Nodes: capa.NodesPlanned, Pools: []planPool{}, Rules: []planRule{}, Capacity: capa, Comparison: cmp}
	for _, pool := range pc.Plan.Pools {
		r.Pools = append(r.Pools, planPool{Name: pool.Name, VSwitch: pool.VSwitch, Nodes: pool.Nodes, InstanceType: pool.Type.Name})
	}
	located := slices.Clone(pc.Findings)
	for _, rr := range pc.Result.Rules {
		pr := planRule{ID: rr.Rule.ID, Title: rr.Rule.Title, Source: rr.Rule.Source, Applied: rr.Applied, Status: "ok", Findings: []planFinding{}}
		if !rr.Applied {
			pr.Status = "n/a"
			pr.NotWhy = notApplicable(rr.Rule, capa)
		}
		for _, f := range rr.Findings {
			pf := planFinding{Severity: string(f.Severity), Path: f.Path, Message: f.Msg}
			// The located copy: the next of this rule's in pc.Findings.
			for i, lf := range located {
				if lf.Rule == f.Rule && lf.Path == f.Path && lf.Msg == f.Msg {
					pf.File, pf.Line, pf.Column = lf.At.File, lf.At.Line, lf.At.Column
					if lf.At.Path != "" {
						pf.Path = lf.At.Path
					}
					located = slices.Delete(located, i, i+1)
					break
				}
			}
			if pf.File == "" {
				pf.File = file
			}
			pr.Findings = append(pr.Findings, pf)
			switch {
			case f.Severity == ackplan.Error:
				pr.Status = "error"
			case pr.Status == "ok":
				pr.Status = "warning"
			}
		}
		r.Rules = append(r.Rules, pr)
	}
	return r
}

// notApplicable says why a rule did not run.
func notApplicable(rule *ackplan.Rule, capa ackplan.Capacity) string {
	if rule.Scope != "" {
		return "only for " + rule.Scope
	}
	return "does not concern this " + capa.CNI + " plan"
}

// failed reports whether some rule reported an error or a warning.
func (r *planReport) failed() bool {
	for _, pr := range r.Rules {
		if len(pr.Findings) > 0 {
			return true
		}
	}
	return false
}

// writePlanText prints the report for people: the header, every rule,
// the capacity tables and, with --compare, the comparison.
func writePlanText(w io.Writer, r *planReport, capa ackplan.Capacity, cmp *ackplan.Comparison) error {
	ew := &cliWriter{w: w}
	// The header names the first few pools; the capacity tables list them all.
	const headerPools = 5
	var pools []string
	for i, p := range r.Pools {
		if i == headerPools {
			pools = append(pools, fmt.Sprintf("and %s more", thousandsInt(len(r.Pools)-headerPools)))
			break
		}
		pools = append(pools, fmt.Sprintf("%s (%s × %s in %s)", p.Name, thousandsInt(p.Nodes), orDash(p.InstanceType), p.VSwitch))
	}
	// capa.Heading: "terway/shared, ACK Pro", or for a CNI ACK does not
	// offer (Flannel VXLAN/host-gw/udp, Calico) "self-managed (not an ACK
	// CNI option)".
	ew.printf("%s: plan for CNI %s: %s nodes planned in %d pool(s)", topology.Printable(r.File), capa.Heading(), thousandsInt(r.Nodes), len(r.Pools))
	if len(pools) > 0 {
		ew.printf(": %s", topology.Printable(strings.Join(pools, ", ")))
	}
	ew.printf("\n")
	counts := map[string]int{}
	for _, pr := range r.Rules {
		counts[pr.Status]++
	}
	ew.printf("\nRules: %d checked — %d ok, %d with errors, %d with warnings; %d n/a\n",
		len(r.Rules)-counts["n/a"], counts["ok"], counts["error"], counts["warning"], counts["n/a"])
	// Columns padded by hand: the findings under a rule are longer than
	// any column and must not widen it.
	statusW, idW := len("warning"), 0
	for _, pr := range r.Rules {
		idW = max(idW, utf8.RuneCountInString(pr.ID))
	}
	for _, pr := range r.Rules {
		status := map[string]string{"ok": "ok", "error": "ERROR", "warning": "warning", "n/a": "n/a"}[pr.Status]
		title := pr.Title
		if pr.Status == "n/a" {
			title += " — n/a (" + pr.NotWhy + ")"
		}
		ew.printf("  %-*s  %-*s  %s\n", statusW, status, idW, pr.ID, title)
		if len(pr.Findings) == 0 {
			continue
		}
		for _, f := range pr.Findings {
			at := topology.Problem{File: f.File, Line: f.Line, Column: f.Column, Path: f.Path, Msg: f.Message}
			sev := ""
			if f.Severity == string(ackplan.Warning) {
				sev = "warning: "
			}
			ew.printf("  %*s  %s%s\n", statusW, "", sev, at.String())
		}
		ew.printf("  %*s  source: %s\n", statusW, "", pr.Source)
	}
	if ew.err != nil {
		return ew.err
	}
	ew.printf("\n")
	if err := ackplan.WriteCapacity(ew, capa); err != nil {
		return fmt.Errorf("capacity: %w", err)
	}
	if cmp != nil {
		ew.printf("\n")
		if err := ackplan.WriteComparison(ew, *cmp); err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
	}
	return ew.err
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// cliWriter keeps the first write error.
type cliWriter struct {
	w   io.Writer
	err error
}

func (c *cliWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.err = err
	return n, err
}

func (c *cliWriter) printf(format string, a ...any) { fmt.Fprintf(c, format, a...) }

// kindsText is a rule's severities, e.g. "error, warning"; "?" when the
// rule does not say.
func kindsText(rule *ackplan.Rule) string {
	if len(rule.Kinds) == 0 {
		return "?"
	}
	s := make([]string, len(rule.Kinds))
	for i, k := range rule.Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// writeRules lists the rule table.
func writeRules(stdout, stderr io.Writer, asJSON bool) int {
	if asJSON {
		type jrule struct {
			ID     string   `json:"id"`
			Kinds  []string `json:"kinds"`
			Title  string   `json:"title"`
			Scope  string   `json:"scope,omitempty"`
			Source string   `json:"source"`
		}
		list := []jrule{}
		for _, r := range ackplan.Rules {
			k := []string{}
			for _, s := range r.Kinds {
				k = append(k, string(s))
			}
			list = append(list, jrule{r.ID, k, r.Title, r.Scope, r.Source})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			fmt.Fprintf(stderr, "netsim plan: -o json: %v\n", err)
			return exitBadInput
		}
		return exitOK
	}
	ew := &cliWriter{w: stdout}
	ew.printf("%d planning rules, in the order they run (netsim plan FILE and netsim validate run them all):\n\n", len(ackplan.Rules))
	for _, r := range ackplan.Rules {
		ew.printf("%s  [%s]\n  %s\n", r.ID, kindsText(&r), r.Title)
		if r.Scope != "" {
			ew.printf("  only for %s\n", r.Scope)
		}
		ew.printf("  source: %s\n\n", r.Source)
	}
	if ew.err != nil {
		fmt.Fprintf(stderr, "netsim plan: %v\n", ew.err)
		return exitBadInput
	}
	return exitOK
}

// suggestRequest checks the --suggest flags and builds the request; msg
// says the first thing wrong.
func suggestRequest(fs *pflag.FlagSet, vpc string, nodes, ppn int, cni string, zones []string, itype string, services int) (ackplan.Request, string) {
	var req ackplan.Request
	var missing []string
	for _, f := range []string{"vpc", "nodes", "pods-per-node", "cni"} {
		if !fs.Changed(f) {
			missing = append(missing, "--"+f)
		}
	}
	if len(missing) > 0 {
		return req, fmt.Sprintf("--suggest needs --vpc CIDR, --nodes N, --pods-per-node P and --cni MODE: %s missing", joinAnd(missing))
	}
	p, msg := parseVPC(vpc)
	if msg != "" {
		return req, msg
	}
	req.VPC = p
	switch {
	case nodes < 1:
		return req, fmt.Sprintf("--nodes %d: expected at least 1 node", nodes)
	case nodes > planMaxNodes:
		return req, fmt.Sprintf("--nodes %d: at most %d, ACK's largest cluster (ACK Pro with Terway, on request)", nodes, planMaxNodes)
	}
	req.Nodes = nodes
	switch {
	case ppn < 1:
		return req, fmt.Sprintf("--pods-per-node %d: expected at least 1 pod", ppn)
	case ppn > planMaxPodsPerNode:
		return req, fmt.Sprintf("--pods-per-node %d: at most %d (a /16 of addresses for one node; no CNI gives a node near that many)", ppn, planMaxPodsPerNode)
	}
	req.PodsPerNode = ppn
	if !slices.Contains(planCNIs, cni) {
		return req, fmt.Sprintf("--cni %q: expected %s%s", cni, hint.QuoteOr(planCNIs), cniHint(cni))
	}
	req.CNI = cni
	for _, z := range zones {
		z = strings.TrimSpace(z)
		switch {
		case z == "":
			return req, fmt.Sprintf("--zones %q: an empty zone; give zone IDs separated by commas, e.g. cn-hangzhou-h,cn-hangzhou-i", strings.Join(zones, ","))
		case !zoneRE.MatchString(z):
			return req, fmt.Sprintf("--zones: %q is not a zone ID: expected lowercase letters, digits and '-', e.g. cn-hangzhou-h", topology.Printable(z))
		case slices.Contains(req.Zones, z):
			return req, fmt.Sprintf("--zones: %s is given twice", z)
		}
		req.Zones = append(req.Zones, z)
	}
	if fs.Changed("instance-type") {
		t, ok := ack.Builtin(itype)
		if !ok {
			if mean := hint.DidYouMean(itype, ack.BuiltinNames()); mean != "" {
				return req, fmt.Sprintf("--instance-type %q: not in netsim's instance type table%s", topology.Printable(itype), mean)
			}
			return req, fmt.Sprintf("--instance-type %q: not in netsim's instance type table (known: %s)", topology.Printable(itype), strings.Join(ack.BuiltinNames(), ", "))
		}
		req.InstanceType = t
	}
	switch {
	case services < 0:
		return req, fmt.Sprintf("--services %d: expected 0 or more Services", services)
	case services > planMaxServices:
		return req, fmt.Sprintf("--services %d: at most %d: ACK's largest Service CIDR is a /%d (CreateCluster service_cidr /%d to /%d), %d ClusterIPs, one of them the kubernetes Service's",
			services, planMaxServices, ackplan.MinServiceMask, ackplan.MinServiceMask, ackplan.MaxServiceMask, planMaxServices+1)
	}
	req.Services = services
	return req, ""
}

// parseVPC parses --vpc: an IPv4 CIDR, masked, /8 to /28.
func parseVPC(s string) (netip.Prefix, string) {
	addr, bits, hasBits := strings.Cut(s, "/")
	if !hasBits {
		return netip.Prefix{}, fmt.Sprintf("--vpc %q: expected an IPv4 CIDR with its prefix length, e.g. 192.168.0.0/16", topology.Printable(s))
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Sprintf("--vpc %q: %q is not an IPv4 address: expected an IPv4 CIDR such as 192.168.0.0/16", topology.Printable(s), topology.Printable(addr))
	}
	n, err := strconv.Atoi(bits)
	if err != nil || n < 0 || n > 32 {
		return netip.Prefix{}, fmt.Sprintf("--vpc %q: the prefix length %q is not 0 to 32; a VPC's is /%d to /%d", topology.Printable(s), topology.Printable(bits), planMinVPCMask, planMaxVPCMask)
	}
	p := netip.PrefixFrom(a, n)
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Sprintf("--vpc %s: host bits are set (did you mean %s?)", s, m)
	}
	if n < planMinVPCMask || n > planMaxVPCMask {
		return netip.Prefix{}, fmt.Sprintf("--vpc %s: a VPC's CIDR is /%d to /%d (CreateVpc)", s, planMinVPCMask, planMaxVPCMask)
	}
	return p, ""
}

// cniHint is a did-you-mean for a --cni value: a close value, or the
// values of a close CNI name ("fannel" → flannel-alivpc or flannel-vxlan).
func cniHint(word string) string {
	if s := hint.Suggest(word, planCNIs); len(s) > 0 {
		return fmt.Sprintf(" (did you mean %s?)", hint.QuoteOr(s))
	}
	head, _, _ := strings.Cut(word, "-")
	if s := hint.Suggest(head, []string{"flannel", "terway", "calico"}); len(s) > 0 {
		var of []string
		for _, c := range planCNIs {
			if strings.HasPrefix(c, s[0]) {
				of = append(of, c)
			}
		}
		return fmt.Sprintf(" (did you mean %s?)", hint.QuoteOr(of))
	}
	return ""
}

// runSuggest asks the suggester and prints its plan.
func runSuggest(stdout, stderr io.Writer, req ackplan.Request, asJSON bool) int {
	s, err := suggestPlan(req)
	var np *ackplan.NoPlanError
	switch {
	case errors.As(err, &np):
		// Nothing on stdout: `netsim plan --suggest … > plan.yaml` must not
		// write a file that is no scenario. The answer (text or JSON) goes
		// to stderr, exit 1.
		if asJSON {
			type noPlan struct {
				Requirement string `json:"requirement"`
				Why         string `json:"why"`
				Relax       string `json:"relax"`
			}
			b, err := json.MarshalIndent(struct {
				NoPlan noPlan `json:"no_plan"`
			}{noPlan{np.Requirement, np.Why, np.Relax}}, "", "  ")
			if err != nil {
				fmt.Fprintf(stderr, "netsim plan: -o json: %v\n", err)
				return exitBadInput
			}
			fmt.Fprintf(stderr, "%s\n", b)
		} else {
			fmt.Fprintf(stderr, "netsim plan: no valid plan: %s\nrelax %s: %s\n", np.Why, np.Requirement, np.Relax)
		}
		return exitUnmet
	case err != nil:
		fmt.Fprintf(stderr, "netsim plan: --suggest: %v\n", err)
		return exitBadInput
	}
	if asJSON {
		choices := s.Choices
		if choices == nil {
			choices = []ackplan.Choice{}
		}
		b, err := json.MarshalIndent(struct {
			Choices []ackplan.Choice `json:"choices"`
			YAML    string           `json:"yaml"`
		}{choices, string(s.YAML)}, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "netsim plan: -o json: %v\n", err)
			return exitBadInput
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	if _, err := stdout.Write(s.YAML); err != nil {
		fmt.Fprintf(stderr, "netsim plan: %v\n", err)
		return exitBadInput
	}
	return exitOK
}
