//go:build unix

package demoprep

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwned refuses an existing demo directory that belongs to another
// user or that others may write to: they could read the tokens and keys
// written into it, or swap them.
func checkOwned(dir string, fi fs.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("demoprep: %s belongs to another user (uid %d); choose another --dir", dir, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("demoprep: %s is writable by other users (mode %04o); chmod 0700 it or choose another --dir", dir, fi.Mode().Perm())
	}
	return nil
}
