package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"netsim/topology/hint"
)

// Usage errors found before a command runs: an unknown command (with a
// suggestion), an unknown flag (with a suggestion among the command's
// flags, or the command it belongs to), a flag given twice.

// flagSets holds every command's flag set, made once by running each
// command with --help into io.Discard (so the flags are those the
// command really defines).
var flagSets struct {
	once sync.Once
	mu   sync.Mutex
	on   bool
	sets map[string]*pflag.FlagSet
}

// registerFlags records a command's flag set while the flag sets are
// being collected; otherwise it does nothing.
func registerFlags(name string, fs *pflag.FlagSet) {
	flagSets.mu.Lock()
	defer flagSets.mu.Unlock()
	if flagSets.on {
		flagSets.sets[name] = fs
	}
}

// commandFlags returns the flag set of every command, by name.
func commandFlags() map[string]*pflag.FlagSet {
	flagSets.once.Do(func() {
		flagSets.mu.Lock()
		flagSets.sets, flagSets.on = map[string]*pflag.FlagSet{}, true
		flagSets.mu.Unlock()
		for _, c := range commands() {
			c.run([]string{"--help"}, io.Discard, io.Discard)
		}
		flagSets.mu.Lock()
		flagSets.on = false
		flagSets.mu.Unlock()
	})
	return flagSets.sets
}

// repeatable reports whether a flag may be given more than once: list
// flags (--hide a --hide b appends).
func repeatable(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array")
}

// checkFlags scans a command's arguments as pflag will parse them and
// returns a usage message for the first flag that is unknown or given
// twice; "" when there is none (pflag then reports what else is wrong,
// e.g. a missing value).
func checkFlags(cmd string, args []string) string {
	sets := commandFlags()
	fs := sets[cmd]
	if fs == nil {
		return ""
	}
	seen := map[string][]string{} // flag name → the spellings given
	note := func(f *pflag.Flag, as, val string, hasVal bool) string {
		if msg := checkValue(f, as, val, hasVal); msg != "" {
			return msg
		}
		as = flagText(as, val, f)
		seen[f.Name] = append(seen[f.Name], as)
		if len(seen[f.Name]) == 2 && !repeatable(f) {
			return fmt.Sprintf("--%s is given twice (%s, then %s): give it once", f.Name, seen[f.Name][0], seen[f.Name][1])
		}
		return ""
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			if name == "help" {
				continue
			}
			f := fs.Lookup(name)
			if f == nil {
				return unknownFlag(cmd, "--"+name, sets)
			}
			if !hasVal && f.NoOptDefVal == "" && i+1 < len(args) {
				i++
				val, hasVal = args[i], true
			}
			if msg := note(f, "--"+name, val, hasVal); msg != "" {
				return msg
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// Shorthands, possibly several booleans at once (-abc), the
			// last one possibly with its value attached (-ojson).
			for j := 1; j < len(a); j++ {
				c := a[j : j+1]
				if c == "h" {
					continue
				}
				f := fs.ShorthandLookup(c)
				if f == nil {
					return unknownFlag(cmd, "-"+c, sets)
				}
				if f.NoOptDefVal != "" {
					// A boolean: -c, or -c=false.
					val, hasVal := strings.CutPrefix(a[j+1:], "=")
					if msg := note(f, "-"+c, val, hasVal); msg != "" {
						return msg
					}
					if hasVal {
						break
					}
					continue
				}
				val := strings.TrimPrefix(a[j+1:], "=")
				hasVal := j+1 < len(a)
				if !hasVal && i+1 < len(args) {
					i++
					val, hasVal = args[i], true
				}
				if msg := note(f, "-"+c, val, hasVal); msg != "" {
					return msg
				}
				break
			}
		}
	}
	return ""
}

// checkValue checks the value of a number or boolean flag as pflag will
// parse it, so the message says what was expected without Go's parser
// names; "" when it is fine or pflag reports the problem (a missing value).
func checkValue(f *pflag.Flag, as, val string, hasVal bool) string {
	if !hasVal {
		return ""
	}
	switch f.Value.Type() {
	case "int":
		if _, err := strconv.Atoi(val); err != nil {
			return fmt.Sprintf("invalid argument %q for %q flag: expected a whole number%s", val, as, rangeNote(err))
		}
	case "intSlice":
		for _, part := range strings.Split(val, ",") {
			if _, err := strconv.Atoi(strings.TrimSpace(part)); err != nil {
				return fmt.Sprintf("invalid argument %q for %q flag: expected whole numbers separated by commas, e.g. 80,443; %q is not one%s", val, as, part, rangeNote(err))
			}
		}
	case "bool":
		if _, err := strconv.ParseBool(val); err != nil {
			return fmt.Sprintf("invalid argument %q for %q flag: expected true or false (or the flag alone for true)", val, as)
		}
	}
	return ""
}

// rangeNote says a number was out of range, not malformed.
func rangeNote(err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Sprintf(" (it is out of range: at most %d)", math.MaxInt)
	}
	return ""
}

// flagText is how a flag was given, for messages: "--pcap a.pcapng".
func flagText(as, val string, f *pflag.Flag) string {
	switch {
	case val == "":
		return as
	case f.NoOptDefVal != "":
		return as + "=" + val // a boolean given a value
	}
	return as + " " + val
}

// unknownFlag says a flag is not one of cmd's: the commands it belongs
// to, or a suggestion among cmd's flags, and where the flags are listed.
func unknownFlag(cmd, flag string, sets map[string]*pflag.FlagSet) string {
	name := strings.TrimLeft(flag, "-")
	var owners []string
	for other, fs := range sets {
		if other == cmd {
			continue
		}
		if (len(name) == 1 && fs.ShorthandLookup(name) != nil) || (len(name) > 1 && fs.Lookup(name) != nil) {
			owners = append(owners, "netsim "+other)
		}
	}
	sort.Slice(owners, func(i, j int) bool { // run first: it has most flags
		if (owners[i] == "netsim run") != (owners[j] == "netsim run") {
			return owners[i] == "netsim run"
		}
		return owners[i] < owners[j]
	})
	if len(owners) > 3 {
		owners = append(owners[:3], fmt.Sprintf("%d more commands", len(owners)-3))
	}
	more := fmt.Sprintf(" (run \"netsim %s --help\" for its flags)", cmd)
	if len(owners) > 0 {
		return fmt.Sprintf("%s is a flag of %s, not of netsim %s%s", flag, joinAnd(owners), cmd, more)
	}
	var names []string
	sets[cmd].VisitAll(func(f *pflag.Flag) { names = append(names, "--"+f.Name) })
	return fmt.Sprintf("unknown flag: %s%s%s", flag, hint.DidYouMean("--"+name, names), more)
}

// joinAnd joins ["a", "b", "c"] as "a, b and c".
func joinAnd(list []string) string {
	if len(list) <= 1 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// unknownCommand reports a command netsim does not have, suggesting the
// closest (one letter off is enough for short words: "rn" → "run"), and
// lists the commands in one line.
func unknownCommand(w io.Writer, word string) {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	names = append(names, "help")
	if strings.HasPrefix(word, "-") {
		var owners []string
		for name, fs := range commandFlags() {
			if f := strings.TrimLeft(word, "-"); f != "" && fs.Lookup(strings.SplitN(f, "=", 2)[0]) != nil {
				owners = append(owners, "netsim "+name)
			}
		}
		sort.Strings(owners)
		of := ""
		if len(owners) > 0 {
			of = " of " + joinAnd(owners)
		}
		fmt.Fprintf(w, "netsim: %q is a flag%s, but the command comes first: netsim COMMAND [flags]\n", word, of)
		shortUsage(w, names)
		return
	}
	mean := hint.DidYouMean(word, names)
	if mean == "" && word != "" && !strings.HasPrefix(word, "-") {
		for _, n := range names {
			if hint.EditDistance(strings.ToLower(word), n) == 1 {
				mean = fmt.Sprintf(" (did you mean %q?)", n)
				break
			}
		}
	}
	fmt.Fprintf(w, "netsim: unknown command %q%s\n", word, mean)
	shortUsage(w, names)
}

// shortUsage is the usage line and the commands, for a usage error.
func shortUsage(w io.Writer, names []string) {
	fmt.Fprintf(w, "Usage: netsim COMMAND [flags] (commands: %s); run \"netsim --help\" for what each does\n", strings.Join(names[:len(names)-1], ", "))
}
