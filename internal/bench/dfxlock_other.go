//go:build !unix

package bench

import "errors"

func lockDfxRef() (unlock func(), err error) {
	return nil, errors.New("bench: --compare-dfx needs a Unix system (flock)")
}
