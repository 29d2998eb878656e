package main

import (
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// devInfo is the fs.FileInfo of a device node, without making one.
type devInfo struct {
	mode         fs.FileMode
	major, minor uint32
}

func (d devInfo) Name() string       { return "dev" }
func (d devInfo) Size() int64        { return 0 }
func (d devInfo) Mode() fs.FileMode  { return d.mode }
func (d devInfo) ModTime() time.Time { return time.Time{} }
func (d devInfo) IsDir() bool        { return false }
func (d devInfo) Sys() any {
	return &syscall.Stat_t{Rdev: unix.Mkdev(d.major, d.minor)}
}

func TestOutputsAreNeverWrittenToDangerousDevices(t *testing.T) {
	char := fs.ModeDevice | fs.ModeCharDevice
	tests := []struct {
		name string
		info devInfo
		want string // "" allowed
	}{
		{"/dev/null", devInfo{char, 1, 3}, ""},
		{"/dev/zero", devInfo{char, 1, 5}, ""},
		{"/dev/full", devInfo{char, 1, 7}, ""},
		{"/dev/tty", devInfo{char, 5, 0}, ""},
		{"/dev/pts/0", devInfo{char, 136, 0}, ""},
		{"/dev/tty1", devInfo{char, 4, 1}, ""},
		{"/dev/sda (block)", devInfo{fs.ModeDevice, 8, 0}, "is a block device (a disk or a partition): netsim never writes an output to one"},
		{"/dev/loop0 (block)", devInfo{fs.ModeDevice, 7, 0}, "is a block device"},
		{"/dev/mem", devInfo{char, 1, 1}, "is a character device (1:1) other than /dev/null, /dev/zero, /dev/full or a terminal"},
		{"/dev/port", devInfo{char, 1, 4}, "is a character device (1:4)"},
		{"/dev/watchdog", devInfo{char, 10, 130}, "is a character device (10:130)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := safeDevice(tt.info)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
	assert.NoError(t, safeDevice(devInfo{mode: 0o644}), "a regular file is not a device")
}
