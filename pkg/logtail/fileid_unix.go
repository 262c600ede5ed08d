//go:build unix

package logtail

import (
	"fmt"
	"io/fs"
	"syscall"
)

// idOf returns the device and inode of a file, the identity that survives a
// rename.
func idOf(fi fs.FileInfo) (fileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("no device/inode for %s", fi.Name())
	}
	// The conversions matter elsewhere: Dev is int32 on Darwin, for one.
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}
