package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"netsim/dataplane/trace"
	"netsim/topology"
)

// WriteJSON writes the result as indented JSON (schema in the README).
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func mark(f *FlowResult) string {
	if f.Met {
		return "PASS"
	}
	return "FAIL"
}

func flowHeader(f *FlowResult) string {
	what := f.Protocol
	if f.Port != 0 {
		what += fmt.Sprintf("/%d", f.Port)
	}
	what += fmt.Sprintf(", %d-byte payload", f.Size)
	if f.Count > 1 {
		what += fmt.Sprintf(", ×%d", f.Count)
	}
	if f.DF != "want" {
		what += ", df " + f.DF
	}
	src := f.From
	if f.SrcIP != "" {
		src += " (" + f.SrcIP + ")"
	}
	dst := f.DstIP
	if dst == "" {
		dst = "no address"
	}
	return fmt.Sprintf("%s → %s (%s), %s", src, f.To, dst, what)
}

// VerdictLine is the one-line outcome of a flow.
func VerdictLine(f *FlowResult) string {
	v := f.Verdict
	var s string
	switch v.Result {
	case "delivered":
		s = "delivered"
		if f.Count > 1 {
			s += fmt.Sprintf(" %d/%d", f.Delivered, f.Count)
		}
		if f.RTT > 0 {
			s += ", rtt " + trace.FormatMillis(f.RTT) + " (modelled)"
		}
		if f.SeenSource != "" {
			s += ", seen source " + f.SeenSource
		}
	case "partial":
		s = fmt.Sprintf("partial: %d/%d delivered, dropped %s at %s: %s", f.Delivered, f.Count, dropCounts(f), v.Where, v.Detail)
	default:
		s = fmt.Sprintf("dropped [%s]", v.Reason)
		if v.Where != "" {
			s += " at " + v.Where
		}
		if v.Detail != "" {
			s += ": " + v.Detail
		}
	}
	if len(f.Responders) > 1 {
		var parts []string
		for k, n := range f.Responders {
			parts = append(parts, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(parts)
		s += "; answered by " + strings.Join(parts, ", ")
	}
	return s
}

func expectText(f *FlowResult) string {
	if f.Expect == nil {
		return "no expectation"
	}
	s := "expected " + f.Expect.Verdict
	if f.Expect.Reason != "" {
		s += " [" + f.Expect.Reason + "]"
	}
	if f.Expect.SeenSource != "" {
		s += ", seen source " + f.Expect.SeenSource
	}
	if !f.Met {
		s += ": " + f.Mismatch
	}
	return s
}

// WriteSummary writes one line a flow and a total, unwrapped.
func WriteSummary(w io.Writer, r *Result) { WriteSummaryWidth(w, r, 0) }

// WriteSummaryWidth writes one line a flow and a total, wrapped at width
// columns (0: no wrapping); a long verdict continues under the verdict.
func WriteSummaryWidth(w io.Writer, r *Result, width int) {
	nameW := 4
	for _, f := range r.Flows {
		nameW = max(nameW, len(f.Name))
	}
	for _, a := range r.Actions {
		nameW = max(nameW, len(a.title()))
	}
	for i, f := range r.Flows {
		writeActionSummaries(w, r, i, nameW, width)
		prefix := fmt.Sprintf("%s  %-*s  ", mark(f), nameW, f.Name)
		cont := len(prefix)
		if width > 0 && cont > width*2/5 {
			cont = 6 // long flow names: continue under the name instead
		}
		for _, l := range trace.WrapIndent(prefix, VerdictLine(f), width, cont) {
			fmt.Fprintln(w, l)
		}
	}
	writeActionSummaries(w, r, len(r.Flows), nameW, width)
	writeTotal(w, r, width)
}

func writeTotal(w io.Writer, r *Result, width int) {
	met := 0
	for _, f := range r.Flows {
		if f.Met {
			met++
		}
	}
	trace.WriteWrapped(w, "", fmt.Sprintf("%d of %d flows met their expectation", met, len(r.Flows)), width)
}

// TextOptions control the text report.
type TextOptions struct {
	// Width wraps every line at this many columns; 0 does not wrap.
	Width int
	// Level is how much of each trace to print (default detailed).
	Level trace.Level
	// Filter selects the hops printed.
	Filter trace.Filter
}

// WriteText writes the full human report at the detailed level: every
// flow with its hops (when traced), verdict and expectation, then the
// summary.
func WriteText(w io.Writer, r *Result, width int) {
	WriteTextOptions(w, r, TextOptions{Width: width})
}

// WriteTextOptions writes the human report with the given options. Every
// line is wrapped at o.Width. A flow traced for several exchanges
// (--trace-all) gets a separator line before each exchange.
func WriteTextOptions(w io.Writer, r *Result, o TextOptions) {
	t := NewTextStream(w, o)
	for i, f := range r.Flows {
		t.flow(r, i, f)
	}
	t.Close(r)
}

// TextStream writes the text report of WriteTextOptions flow by flow, as
// the runner finishes them (Options.OnFlow), and a traced flow exchange by
// exchange (Options.OnExchange), so that no hop is kept once written;
// Close writes the rest.
type TextStream struct {
	w       io.Writer
	o       TextOptions
	started bool
	inFlow  bool // the flow's header is written (its exchanges stream)
}

// NewTextStream returns a stream writing the report to w.
func NewTextStream(w io.Writer, o TextOptions) *TextStream { return &TextStream{w: w, o: o} }

func (t *TextStream) ww(prefix, text string) {
	// Line breaks are the report's own (WriteWrapped indents them);
	// anything else that steers a terminal is escaped.
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = topology.Printable(l)
	}
	trace.WriteWrapped(t.w, prefix, strings.Join(lines, "\n"), t.o.Width)
}

func (t *TextStream) head(r *Result) {
	if t.started {
		return
	}
	t.started = true
	t.ww("", fmt.Sprintf("scenario %s (%s): CNI %s, underlay %s", r.Scenario, r.File, r.CNI, r.Underlay))
	for _, n := range r.Notes {
		t.ww("note: ", n)
	}
	for _, n := range r.Warnings {
		t.ww("warning: ", n)
	}
}

// Exchange writes one traced exchange of f, the flow after r.Flows (and,
// at its first, the actions before the flow and the flow's header).
func (t *TextStream) Exchange(r *Result, f *FlowResult, x ExchangeTrace) {
	if !t.inFlow {
		t.flowHead(r, len(r.Flows), f)
		t.inFlow = true
	}
	t.exchange(f, x.Hops, x.Index, x.Traced)
}

// Flow writes f, the last flow of r.Flows so far, and the actions before
// it; or, when its exchanges were streamed, its verdict.
func (t *TextStream) Flow(r *Result, f *FlowResult) {
	if t.inFlow {
		t.inFlow = false
		t.flowTail(f)
		return
	}
	t.flow(r, len(r.Flows)-1, f)
}

func (t *TextStream) flowHead(r *Result, i int, f *FlowResult) {
	t.head(r)
	writeActions(t.w, r, i, t.o.Width)
	fmt.Fprintln(t.w)
	t.ww("== ", fmt.Sprintf("flow %s: %s", f.Name, flowHeader(f)))
	if f.Description != "" {
		t.ww("   ", f.Description)
	}
}

// exchange writes exchange i of the n traced of f.
func (t *TextStream) exchange(f *FlowResult, x []trace.Hop, i, n int) {
	if n == 1 && f.Count > 1 {
		t.ww("   ", fmt.Sprintf("hops of the first of %d exchanges (times from the flow's start, virtual):", f.Count))
	}
	if n > 1 {
		t.ww("  ", exchangeHeader(f, x, i, n))
	}
	trace.WriteLevel(t.w, t.o.Filter.Apply(x), f.Start, t.o.Level, t.o.Width)
}

func (t *TextStream) flow(r *Result, i int, f *FlowResult) {
	t.flowHead(r, i, f)
	if len(f.Hops) > 0 {
		xs := trace.Exchanges(f.Hops)
		for i, x := range xs {
			t.exchange(f, x, i, len(xs))
		}
	}
	t.flowTail(f)
}

func (t *TextStream) flowTail(f *FlowResult) {
	ww := t.ww
	ww("   verdict: ", VerdictLine(f))
	if f.Verdict.Why != "" {
		ww("      why: ", f.Verdict.Why)
	}
	if f.Verdict.Hint != "" {
		ww("     hint: ", f.Verdict.Hint)
	}
	ww("   ", fmt.Sprintf("%s: %s", mark(f), expectText(f)))
}

// Close writes the actions after the last flow and the summary.
func (t *TextStream) Close(r *Result) {
	t.head(r)
	writeActions(t.w, r, len(r.Flows), t.o.Width)
	fmt.Fprintln(t.w)
	WriteSummaryWidth(t.w, r, t.o.Width)
}

// JSONStream writes the document of WriteJSON flow by flow, as the runner
// finishes them (Options.OnFlow), with the same bytes, so that a flow's
// hops can be dropped once written: the fields before "flows" at the
// first flow, each flow as it comes, and the rest (the actions) at Close.
// The hops of a flow streamed exchange by exchange (Options.OnExchange)
// wait until the flow's verdict is known (they come after it in the
// document): in memory up to spillAt bytes, then in a temporary file.
type JSONStream struct {
	w     io.Writer
	flows int
	err   error

	streamed bool          // this flow's hops came by Exchange
	mem      bytes.Buffer  // this flow's hops, encoded, while small
	spill    *os.File      // or in this file, once big
	spillW   *bufio.Writer // writing to spill
	hops     int
}

// spillAt is how many bytes of encoded hops a flow keeps in memory
// before they go to a temporary file.
var spillAt = 4 << 20

// hopsOut is where the next encoded hop of the flow goes.
func (s *JSONStream) hopsOut(f *FlowResult) (io.Writer, error) {
	if s.spill != nil {
		return s.spillW, nil
	}
	if s.mem.Len() < spillAt {
		return &s.mem, nil
	}
	sp, err := os.CreateTemp("", "netsim-hops-*.json")
	if err != nil {
		return nil, fmt.Errorf("json: a temporary file for the hops of flow %s: %w", f.Name, err)
	}
	s.spill, s.spillW = sp, bufio.NewWriterSize(sp, 64<<10)
	if _, err := s.spillW.Write(s.mem.Bytes()); err != nil {
		return nil, fmt.Errorf("json: the hops of flow %s: %w", f.Name, err)
	}
	s.mem = bytes.Buffer{}
	return s.spillW, nil
}

// NewJSONStream returns a stream writing the JSON document to w.
func NewJSONStream(w io.Writer) *JSONStream { return &JSONStream{w: w} }

// flowsKey is the "flows" key of the indented document (a top-level key:
// the only one at this indentation after a newline; strings hold no raw
// newline).
const flowsKey = "\n  \"flows\": null"

// frame encodes r without its flows and returns the text before and after
// its flows' value.
func jsonFrame(r *Result) (before, after []byte, err error) {
	c := *r
	c.Flows = nil
	var b bytes.Buffer
	if err := WriteJSON(&b, &c); err != nil {
		return nil, nil, err
	}
	i := bytes.LastIndex(b.Bytes(), []byte(flowsKey))
	if i < 0 {
		return nil, nil, fmt.Errorf("json: no flows key in the document")
	}
	end := i + len(flowsKey)
	return b.Bytes()[:end-len("null")], b.Bytes()[end:], nil
}

func (s *JSONStream) write(p []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
}

// encodeIndented encodes v as WriteJSON would at an indentation of
// prefix, without the final newline.
func encodeIndented(v any, prefix string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Exchange encodes the hops of one traced exchange of the flow after
// r.Flows, to be written with the flow (Flow).
func (s *JSONStream) Exchange(r *Result, f *FlowResult, x ExchangeTrace) error {
	if s.err != nil {
		return s.err
	}
	s.streamed = true
	for i := range x.Hops {
		b, err := encodeIndented(&x.Hops[i], "        ")
		if err != nil {
			s.err = fmt.Errorf("json: flow %s: %w", f.Name, err)
			return s.err
		}
		out, err := s.hopsOut(f)
		if err != nil {
			s.err = err
			return err
		}
		sep := "        "
		if s.hops > 0 {
			sep = ",\n        "
		}
		io.WriteString(out, sep)
		if _, err := out.Write(b); err != nil {
			s.err = fmt.Errorf("json: the hops of flow %s: %w", f.Name, err)
			return s.err
		}
		s.hops++
	}
	return nil
}

// dropSpill removes the temporary file of the hops.
func (s *JSONStream) dropSpill() {
	if s.spill != nil {
		s.spill.Close()
		os.Remove(s.spill.Name())
	}
	s.spill, s.spillW, s.hops, s.streamed = nil, nil, 0, false
	s.mem.Reset()
}

// Abort removes what a stream left on disk (a run that stopped).
func (s *JSONStream) Abort() { s.dropSpill() }

// Flow writes f, the last flow of r.Flows so far, with the hops streamed
// for it; it returns the first write error of the stream.
func (s *JSONStream) Flow(r *Result, f *FlowResult) error {
	defer s.dropSpill()
	if s.err != nil {
		return s.err
	}
	if s.flows == 0 {
		before, _, err := jsonFrame(r)
		if err != nil {
			s.err = err
			return err
		}
		s.write(before)
		s.write([]byte("[\n    "))
	} else {
		s.write([]byte(",\n    "))
	}
	s.flows++
	if !s.streamed || len(f.Hops) > 0 {
		b, err := encodeIndented(f, "    ")
		if err != nil {
			s.err = fmt.Errorf("json: flow %s: %w", f.Name, err)
			return s.err
		}
		s.write(b)
		return s.err
	}
	// The flow without its hops and packets (the last two fields), then
	// the hops from the file, the packets, the closing brace.
	c := *f
	c.Hops, c.Packets = nil, nil
	b, err := encodeIndented(&c, "    ")
	if err != nil {
		s.err = fmt.Errorf("json: flow %s: %w", f.Name, err)
		return s.err
	}
	s.write(bytes.TrimSuffix(b, []byte("\n    }")))
	if s.hops > 0 {
		s.write([]byte(",\n      \"hops\": [\n"))
		if s.spill == nil {
			s.write(s.mem.Bytes())
		} else if s.err == nil {
			err := s.spillW.Flush()
			if err == nil {
				_, err = s.spill.Seek(0, io.SeekStart)
			}
			if err == nil {
				_, err = io.Copy(s.w, s.spill)
			}
			if err != nil {
				s.err = fmt.Errorf("json: the hops of flow %s: %w", f.Name, err)
				return s.err
			}
		}
		s.write([]byte("\n      ]"))
	}
	if len(f.Packets) > 0 {
		p, err := encodeIndented(f.Packets, "      ")
		if err != nil {
			s.err = fmt.Errorf("json: flow %s: %w", f.Name, err)
			return s.err
		}
		s.write([]byte(",\n      \"packets\": "))
		s.write(p)
	}
	s.write([]byte("\n    }"))
	return s.err
}

// Close writes the rest of the document and returns the first write error.
func (s *JSONStream) Close(r *Result) error {
	if s.err != nil {
		return s.err
	}
	before, after, err := jsonFrame(r)
	if err != nil {
		return err
	}
	if s.flows == 0 {
		s.write(before)
		s.write([]byte("null"))
	} else {
		s.write([]byte("\n  ]"))
	}
	s.write(after)
	return s.err
}

// exchangeHeader introduces exchange i (from 0) of n of a flow traced in
// full: "-- exchange 2 of 300 (icmp seq 2) --", "-- exchange 3 of 6 (tcp
// 172.20.0.2:40468 > 172.21.7.189:80) --".
func exchangeHeader(f *FlowResult, hops []trace.Hop, i, n int) string {
	what := f.Protocol
	if what == "" || what == "icmp" {
		what = fmt.Sprintf("icmp seq %d", i+1)
	} else if e := trace.Endpoints(hops); e != "" {
		what += " " + e
	}
	return fmt.Sprintf("-- exchange %d of %d (%s) --", i+1, n, what)
}
