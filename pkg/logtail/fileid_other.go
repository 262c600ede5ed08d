//go:build !unix

package logtail

import (
	"errors"
	"io/fs"
)

// idOf is not available off Unix: without device and inode numbers rotation
// cannot be told from a new file, so no file can be tailed.
func idOf(fs.FileInfo) (fileID, error) {
	return fileID{}, errors.New("log tailing needs device/inode numbers (Unix only)")
}
