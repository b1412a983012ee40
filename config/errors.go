package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one mistake in a config file.
type Error struct {
	File string
	Line int // 1-based; 0 when the mistake is about the file as a whole
	Msg  string
}

// Error returns "FILE:LINE: msg", or "FILE: msg" when Line is 0.
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// maxErrors bounds the errors Load returns, so that a file of garbage yields
// a screenful rather than thousands of lines.
const maxErrors = 50

// errorf records a mistake at line. It cuts string arguments, the values
// from the file, to maxShown bytes, so that one runaway value cannot flood
// the terminal; pass text of ours as a phrase.
func (ck *checker) errorf(line int, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clip(s)
		}
	}
	ck.errs = append(ck.errs, &Error{File: ck.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// maxShown is the most bytes of a value shown in a message.
const maxShown = 100

// phrase is text of ours in a message, which errorf does not cut short.
type phrase string

// clip cuts s to maxShown bytes.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	return strings.ToValidUTF8(s[:maxShown], "") + "..."
}

// err returns the mistakes recorded, sorted by line, without repeats, and
// joined; nil when there are none.
func (ck *checker) err() error {
	slices.SortStableFunc(ck.errs, func(a, b *Error) int { return a.Line - b.Line })
	// An alias expanded in several places repeats its mistakes.
	seen := make(map[Error]bool)
	var errs []*Error
	for _, e := range ck.errs {
		if !seen[*e] {
			seen[*e] = true
			errs = append(errs, e)
		}
	}
	var list []error
	for i, e := range errs {
		if i == maxErrors {
			list = append(list, &Error{File: ck.file, Line: e.Line, Msg: fmt.Sprintf("too many errors (%d more)", len(errs)-i)})
			break
		}
		list = append(list, e)
	}
	return errors.Join(list...)
}
