//go:build unix

package auth

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on the lock file in a key directory,
// waiting for any other process that holds it, and returns the function that
// releases it. Ensure and Rotate hold it across their read-modify-write of
// signing.pem and jwks.json, so two processes starting at once agree on one
// key and a rotation is never undone by a concurrent start.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
