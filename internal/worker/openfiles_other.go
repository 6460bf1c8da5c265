//go:build !unix

package worker

import "errors"

func openFileLimit() (uint64, bool) { return 0, false }

func raiseOpenFileLimit() (soft, hard uint64, err error) {
	return 0, 0, errors.New("open-file limits are not supported on this platform")
}
