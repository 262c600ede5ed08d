// Package exitcode maps errors to the process exit codes the command line
// promises: 0 ok, 1 runtime failure, 2 usage or configuration error.
package exitcode

import (
	"context"
	"errors"
)

// The exit codes of every lightmetrics command.
const (
	OK      = 0
	Runtime = 1
	Usage   = 2
)

// codedError carries an exit code alongside the error it wraps.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// Config marks err as a usage or configuration error (exit 2). A nil err stays nil.
func Config(err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: Usage, err: err}
}

// Of returns the exit code for err: 0 for nil and for a plain cancellation
// (Ctrl-C is how a foreground daemon is meant to stop), 2 for errors marked by
// Config, 1 otherwise.
func Of(err error) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return OK
	}
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	return Runtime
}
