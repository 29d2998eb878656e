package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// outFile is an output file opened and checked before a run, so that a bad
// path fails before anything is printed and an output never destroys an
// input. A regular file is written to a temporary file in the target's
// directory and renamed over the target by commit (the old file stays
// untouched until then); a target that is not a regular file (/dev/null,
// /dev/stdout, a FIFO) is written directly.
type outFile struct {
	flag, path string // the flag and the path as given
	target     string // the file renamed over (symlinks resolved)
	tmp        string // the temporary file ("": written directly)
	f          *os.File
	stop       chan os.Signal
	force      bool // overwrite a file that is not a capture
}

// outputError is an error writing an output: reported as a usage error
// naming the flag.
type outputError struct {
	flag, path string
	err        error
}

func (e *outputError) Error() string { return fmt.Sprintf("%s %s: %v", e.flag, e.path, e.err) }
func (e *outputError) Unwrap() error { return e.err }

// openOutput checks the output path of flag against the run's inputs and
// opens it. Errors name the flag and the path.
//
// An existing regular file that is not empty and does not start as a
// capture (pcapng or pcap) is not overwritten unless force is set: a
// mistyped --pcap onto a source file or a report would lose it.
func openOutput(flag, path string, inputs []string, force bool) (*outFile, error) {
	o := &outFile{flag: flag, path: path, force: force}
	if err := o.open(inputs); err != nil {
		return nil, &outputError{flag: flag, path: path, err: err}
	}
	return o, nil
}

// isFDPath says whether p names one of the process's open files
// (/dev/stdout, /dev/fd/3, /proc/self/fd/1): written directly, appended
// to, never replaced by a rename, whatever file it is.
func isFDPath(p string) bool {
	switch {
	case p == "/dev/stdout" || p == "/dev/stderr":
		return true
	case strings.HasPrefix(p, "/dev/fd/"):
		return true
	case strings.HasPrefix(p, "/proc/"):
		parts := strings.Split(p, "/") // "", "proc", PID|self|thread-self, "fd", N
		return len(parts) == 5 && parts[3] == "fd"
	}
	return false
}

func (o *outFile) open(inputs []string) error {
	if o.path == "" {
		return errors.New("an empty path: expected a file name")
	}
	abs, _ := filepath.Abs(o.path)
	st, err := os.Stat(o.path) // follows symlinks
	switch {
	case err == nil:
		if st.IsDir() {
			return errors.New("is a directory: expected a file name")
		}
		for _, in := range inputs {
			if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
				return fmt.Errorf("is %s: an output never overwrites an input of the run (choose another file)", inputName(in, inputs))
			}
		}
		if !st.Mode().IsRegular() || isFDPath(filepath.Clean(abs)) {
			if !isFDPath(filepath.Clean(abs)) {
				if err := safeDevice(st); err != nil {
					return err
				}
			}
			return o.openDirect(st)
		}
		target, err := filepath.EvalSymlinks(o.path)
		if err != nil {
			return fmt.Errorf("resolving it: %w", err)
		}
		if !o.force && st.Size() > 0 && !isCapture(target) {
			return errors.New("exists and is not a capture (it does not start with a pcapng or pcap header): netsim overwrites only captures; remove it, choose another name, or add --force")
		}
		return o.openTemp(target, st.Mode().Perm())
	case errors.Is(err, fs.ErrNotExist):
		for _, in := range inputs {
			if ia, err := filepath.Abs(in); err == nil && ia == filepath.Clean(abs) {
				return fmt.Errorf("is %s: an output never overwrites an input of the run (choose another file)", inputName(in, inputs))
			}
		}
		dir := filepath.Dir(o.path)
		dst, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("its directory %s: %w", dir, unwrapPath(err))
		}
		if !dst.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		if fi, err := os.Lstat(o.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return errors.New("is a symbolic link to a file that does not exist: expected a file name")
		}
		return o.openTemp(o.path, 0o644)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s is not a directory", notDir(o.path))
	default:
		return unwrapPath(err)
	}
}

// inputName says which input p is: the scenario (the first) or a manifest.
func inputName(p string, inputs []string) string {
	if len(inputs) > 0 && p == inputs[0] {
		return "the scenario file " + p
	}
	return "the manifest " + p + ", which the scenario reads"
}

// notDir returns the first leading part of p that exists and is not a
// directory.
func notDir(p string) string {
	parts := strings.Split(filepath.Clean(p), string(filepath.Separator))
	cur := ""
	for i, part := range parts {
		if i == 0 && part == "" {
			cur = string(filepath.Separator)
			continue
		}
		cur = filepath.Join(cur, part)
		if st, err := os.Stat(cur); err == nil && !st.IsDir() {
			return cur
		}
	}
	return filepath.Dir(p)
}

// unwrapPath drops the operation and path of a *fs.PathError (the message
// names the path already).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// safeDevice refuses the devices an output must never be written to: a
// block device (a disk or a partition: a capture written there destroys
// the filesystem) and every character device but the harmless ones, the
// memory devices null, zero and full (major 1, minor 3, 5, 7) and
// terminals (majors 4, 5 and 136–143: ttys, /dev/tty, ptys). /dev/mem,
// /dev/port or /dev/watchdog would corrupt memory or reboot the machine.
// A descriptor the caller opened (/dev/stdout, /dev/fd/N) is the caller's.
func safeDevice(st fs.FileInfo) error {
	m := st.Mode()
	if m&fs.ModeDevice == 0 {
		return nil
	}
	if m&fs.ModeCharDevice == 0 {
		return errors.New("is a block device (a disk or a partition): netsim never writes an output to one")
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("is a character device netsim cannot identify: write to a file, /dev/null or /dev/stdout")
	}
	major, minor := unix.Major(sys.Rdev), unix.Minor(sys.Rdev)
	switch {
	case major == 1 && (minor == 3 || minor == 5 || minor == 7):
		return nil
	case major == 4 || major == 5 || major >= 136 && major <= 143:
		return nil
	}
	return fmt.Errorf("is a character device (%d:%d) other than /dev/null, /dev/zero, /dev/full or a terminal: netsim never writes an output to one", major, minor)
}

func (o *outFile) openDirect(st fs.FileInfo) error {
	flags := os.O_WRONLY | os.O_APPEND
	switch {
	case st.Mode()&fs.ModeSocket != 0:
		return errors.New("is a socket: expected a file, a FIFO or a device")
	case st.Mode()&fs.ModeNamedPipe != 0:
		flags |= syscall.O_NONBLOCK // no reader: ENXIO now, not a hang
	}
	f, err := os.OpenFile(o.path, flags, 0)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) && st.Mode()&fs.ModeNamedPipe != 0 {
			return errors.New("is a FIFO that nothing reads: start the reader first")
		}
		return unwrapPath(err)
	}
	o.f = f
	return nil
}

func (o *outFile) openTemp(target string, perm fs.FileMode) error {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("cannot create a file in %s: %w", dir, unwrapPath(err))
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return unwrapPath(err)
	}
	o.f, o.target, o.tmp = f, target, f.Name()
	// Interrupted: the temporary file goes, the old file stays.
	o.stop = make(chan os.Signal, 1)
	signal.Notify(o.stop, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func(stop chan os.Signal, tmp string) {
		if sig, ok := <-stop; ok {
			os.Remove(tmp)
			// As a shell reports a process a signal ended: 128 + its
			// number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
			code := 130
			if n, ok := sig.(syscall.Signal); ok {
				code = 128 + int(n)
			}
			os.Exit(code)
		}
	}(o.stop, o.tmp)
	return nil
}

func (o *outFile) stopSignals() {
	if o.stop != nil {
		signal.Stop(o.stop)
		close(o.stop)
		o.stop = nil
	}
}

// commit closes the file and renames the temporary file over the target.
func (o *outFile) commit() error {
	if o.f == nil {
		return nil
	}
	defer o.stopSignals()
	f := o.f
	o.f = nil
	if o.tmp == "" {
		if err := f.Close(); err != nil {
			return &outputError{flag: o.flag, path: o.path, err: unwrapPath(err)}
		}
		return nil
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp, o.target)
	}
	if err != nil {
		os.Remove(o.tmp)
		return &outputError{flag: o.flag, path: o.path, err: unwrapPath(err)}
	}
	return nil
}

// abort closes the file and removes the temporary file; the target is
// untouched. It does nothing after commit.
func (o *outFile) abort() {
	if o == nil || o.f == nil {
		return
	}
	o.f.Close()
	o.f = nil
	if o.tmp != "" {
		os.Remove(o.tmp)
	}
	o.stopSignals()
}

// isCapture says whether the file starts with a pcapng section header or
// a pcap file header (either byte order, micro- or nanosecond).
func isCapture(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	switch string(b[:]) {
	case "\x0a\x0d\x0d\x0a", // pcapng Section Header Block
		"\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", // pcap, microseconds
		"\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d": // pcap, nanoseconds
		return true
	}
	return false
}
