package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// usage is what one child process took: wall time from start to exit, CPU
// (user + system, from its rusage) and peak resident memory.
type usage struct {
	wall   time.Duration
	cpu    time.Duration
	maxRSS int64 // bytes
	stdout string
}

// runChild runs a command to its end and returns its usage. A non-zero exit
// is an error carrying its stderr.
//
// The peak RSS comes from GNU time (/usr/bin/time, Debian package time)
// when it is installed: Go starts children with vfork, and Linux then
// counts this process's own peak in the child's rusage. Without it maxRSS
// is 0 and the table says so.
func runChild(name string, args ...string) (usage, error) {
	var rusageFile string
	if timeCmd, err := exec.LookPath("/usr/bin/time"); err == nil {
		f, err := os.CreateTemp("", "bench-rusage-")
		if err != nil {
			return usage{}, err
		}
		f.Close()
		rusageFile = f.Name()
		defer os.Remove(rusageFile)
		args = append([]string{"-o", rusageFile, "-f", "%M", name}, args...)
		name = timeCmd
	}
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return usage{}, fmt.Errorf("%s %v: %w\n%s", filepath.Base(name), args, err, tail(stderr.Bytes()))
	}
	// wait4 counts the children a process waited for: time's child.
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	u := usage{
		wall:   wall,
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		stdout: stdout.String(),
	}
	if rusageFile != "" {
		b, err := os.ReadFile(rusageFile)
		if err != nil {
			return u, err
		}
		var kib int64
		if _, err := fmt.Sscan(string(b), &kib); err != nil {
			return u, fmt.Errorf("peak RSS from time: %q: %w", b, err)
		}
		u.maxRSS = kib << 10
	}
	return u, nil
}

// tail is the end of a command's stderr, enough to see why it failed.
func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
