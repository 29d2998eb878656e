package yamlbound

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// MaxFileBytes is the largest scenario or manifest file netsim reads:
// 16 MiB, far above any real one (the bundled scenarios are a few KiB).
const MaxFileBytes = 16 << 20

// FileError is an input file netsim refuses to read; Msg says why without
// the file's name.
type FileError struct {
	Path string
	Msg  string
	Err  error // the system error, when there is one
}

func (e *FileError) Error() string { return e.Path + ": " + e.Msg }

func (e *FileError) Unwrap() error { return e.Err }

// CheckFile says why the file at path is not one netsim reads: not there,
// not a regular file (a directory, a device such as /dev/zero, a FIFO, a
// socket) or larger than MaxFileBytes. It does not open the file. what
// names the file in messages ("scenario", "manifest").
func CheckFile(path, what string) error {
	info, err := os.Stat(path)
	if err != nil {
		return &FileError{Path: path, Msg: "cannot read the " + what + ": " + sysMessage(err), Err: err}
	}
	return checkInfo(path, what, info)
}

func checkInfo(path, what string, info fs.FileInfo) error {
	if msg := notRegular(info.Mode()); msg != "" {
		return &FileError{Path: path, Msg: "not a regular file but " + msg + ": a " + what + " is a YAML file"}
	}
	if info.Size() > MaxFileBytes {
		return &FileError{Path: path, Msg: tooLarge(what, info.Size())}
	}
	return nil
}

func tooLarge(what string, size int64) string {
	at := fmt.Sprintf("%.1f MiB", float64(size)/(1<<20))
	if size < 0 {
		at = "it grew past the limit while read"
	}
	return fmt.Sprintf("too large (%s): a %s file is at most %d MiB (%d bytes)", at, what, MaxFileBytes>>20, MaxFileBytes)
}

func notRegular(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// ReadFile reads the file at path when it is a regular file of at most
// MaxFileBytes. The checks come before reading: the file is opened
// non-blocking (a FIFO cannot stall the open), its type checked on the
// open file, and at most MaxFileBytes+1 bytes read, so that a file that
// grows while it is read is still refused.
func ReadFile(path, what string) ([]byte, error) {
	if err := CheckFile(path, what); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read the " + what + ": " + sysMessage(err), Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read the " + what + ": " + sysMessage(err), Err: err}
	}
	if err := checkInfo(path, what, info); err != nil {
		return nil, err
	}
	if info.Size() == 0 {
		// Empty, or a kernel pseudo-file (/proc reports size 0): reading
		// /proc/kmsg would block and consume the kernel's log, so a file
		// that says it is empty is taken at its word.
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read the " + what + ": " + sysMessage(err), Err: err}
	}
	if len(data) > MaxFileBytes {
		return nil, &FileError{Path: path, Msg: tooLarge(what, -1)}
	}
	return data, nil
}

// sysMessage is the system's reason without the operation and path
// ("no such file or directory").
func sysMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Inside reports whether file, once symbolic links are resolved, lies in
// the directory tree of dir. Both must exist.
func Inside(dir, file string) (bool, error) {
	d, err := realPath(dir)
	if err != nil {
		return false, err
	}
	f, err := realPath(file)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, f)
	if err != nil {
		return false, nil
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel), nil
}

func realPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(a)
}

// MaxMarks bounds, before parsing, the YAML nodes a file can hold and so
// the memory of its parsed node tree (some 300 bytes a node in yaml.v3).
// Every node but a document's first needs an indicator of its own: a
// mapping's key and value a ':' (or '?'), a list item a '-' (or ','), a
// flow collection its '[' or '{'. CheckText counts them, 2 for each ':' and
// '?', and refuses a file with more unparsed. 1,500,000 holds ACK's
// largest default cluster written one pod a line (5,000 nodes × 30 pods,
// `netsim gen`: 7 marks a pod, 1.1 million in all).
const MaxMarks = 1_500_000

// BOM is the UTF-8 byte order mark, which YAML allows at the start.
const BOM = "\ufeff"

// TextProblem is the first byte of data that is not YAML text.
type TextProblem struct {
	Line, Column int // 1-based; the column counts characters
	Msg          string
}

// CheckText finds the first byte that cannot be in YAML text: a NUL or
// other control character (tab, line feed and carriage return are text),
// or a byte sequence that is not UTF-8. what names the file ("scenario",
// "manifest"). The message names the byte in hex, never the file's text.
func CheckText(data []byte, what string) *TextProblem {
	line, col := 1, 1
	marks := 0
	for i := 0; i < len(data); {
		b := data[i]
		switch b {
		case ':', '?':
			marks += 2 // a key and its value
		case ',', '[', '{':
			marks++
		case '-':
			if i+1 == len(data) || data[i+1] == ' ' || data[i+1] == '\n' || data[i+1] == '\r' || data[i+1] == '\t' {
				marks++ // a list item, or the end of "---"
			}
		}
		if marks > MaxMarks {
			return &TextProblem{line, col, fmt.Sprintf("too many YAML items: more than %d keys, values and list items (counted from the ':' ',' '-' '[' '{' that make them, up to here), the most a %s may hold", MaxMarks, what)}
		}
		if b < utf8.RuneSelf {
			if b < 0x20 && b != '\t' && b != '\n' && b != '\r' || b == 0x7f {
				return &TextProblem{line, col, fmt.Sprintf("not a text file: byte 0x%02x (a control character) at line %d, column %d: a %s is UTF-8 YAML text", b, line, col, what)}
			}
			if b == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return &TextProblem{line, col, fmt.Sprintf("not valid UTF-8: byte 0x%02x at line %d, column %d: a %s is UTF-8 YAML text", b, line, col, what)}
		case r >= 0x80 && r <= 0x9f && r != 0x85, r == 0xfffe, r == 0xffff, r == 0xfeff && i > 0:
			return &TextProblem{line, col, fmt.Sprintf("not a text file: character U+%04X (a control character) at line %d, column %d: a %s is UTF-8 YAML text", r, line, col, what)}
		}
		col++
		i += n
	}
	return nil
}

// Describe says what kind of YAML value n is, for "got ..." when a
// mapping was expected, without quoting its text: when a file that is not
// YAML (a password file, a log) is read as YAML, it reads as one long
// string, which must not be echoed.
func Describe(n *yaml.Node) string {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "text that YAML reads as one string (no \"key: value\" lines)"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true or false"
		case "!!null":
			return "nothing"
		}
		return "a single value"
	}
	return "a value"
}

// SyntaxColumn guesses the 1-based column of a yaml.v3 syntax error on
// the line text, from the token its message names: the unclosed "[" or "{"
// of a flow collection, the second ": " of "mapping values are not
// allowed", a reserved indicator ("@", "`") that cannot start a token;
// otherwise the line's first character. yaml.v3 reports lines only.
func SyntaxColumn(text, msg string) int {
	col := func(i int) int { return utf8.RuneCountInString(text[:i]) + 1 }
	first := len(text) - len(strings.TrimLeft(text, " "))
	switch {
	case strings.Contains(msg, "']'"):
		if i := strings.LastIndexByte(text, '['); i >= 0 {
			return col(i)
		}
	case strings.Contains(msg, "'}'"):
		if i := strings.LastIndexByte(text, '{'); i >= 0 {
			return col(i)
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		seen := 0
		for i := first; i < len(text); i++ {
			if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\r') {
				if seen++; seen == 2 {
					return col(i)
				}
			}
		}
	case strings.Contains(msg, "cannot start any token"):
		if i := strings.IndexAny(text[first:], "@`\t"); i >= 0 {
			return col(first + i)
		}
	}
	if strings.TrimSpace(text) == "" {
		return 1
	}
	return col(first)
}

// FlowDepthAt returns the position of the first "[" or "{" nested deeper
// than depth (yaml.v3 refuses more than 10000), ignoring quoted text and
// comments roughly; ok is false when there is none.
func FlowDepthAt(data []byte, depth int) (line, col int, ok bool) {
	open := 0
	scanBrackets(data, func(opens bool, l, c int) bool {
		if !opens {
			open = max(open-1, 0)
			return true
		}
		if open++; open > depth {
			line, col, ok = l, c, true
			return false
		}
		return true
	})
	return line, col, ok
}

// UnclosedAt returns the position of the innermost "[" or "{" still open
// at the end of data (ignoring quoted text and comments roughly), for a
// syntax error yaml.v3 reports at the end of the file; ok is false when
// every bracket is closed.
func UnclosedAt(data []byte) (line, col int, ok bool) {
	type pos struct{ line, col int }
	var stack []pos
	scanBrackets(data, func(opens bool, l, c int) bool {
		if opens {
			stack = append(stack, pos{l, c})
		} else if len(stack) > 0 {
			stack = stack[:len(stack)-1]
		}
		return true
	})
	if len(stack) == 0 {
		return 0, 0, false
	}
	top := stack[len(stack)-1]
	return top.line, top.col, true
}

// scanBrackets calls fn with each flow bracket of data outside quotes and
// comments (roughly: no escapes, no block scalars), opens telling "[" "{"
// from "]" "}", with its line and column; fn returns false to stop.
func scanBrackets(data []byte, fn func(opens bool, line, col int) bool) {
	line, col := 1, 1
	var quote byte
	comment := false
	for i := 0; i < len(data); i++ {
		b := data[i]
		switch {
		case b == '\n':
			line, col, comment = line+1, 0, false
		case comment:
		case quote != 0:
			if b == quote {
				quote = 0
			}
		case b == '"' || b == '\'':
			quote = b
		case b == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n'):
			comment = true
		case b == '[' || b == '{', b == ']' || b == '}':
			if !fn(b == '[' || b == '{', line, col) {
				return
			}
		}
		if b < utf8.RuneSelf || utf8.RuneStart(b) {
			col++
		}
	}
}
