//go:build !unix

package auth

// lockDir does nothing on systems without flock: there, two processes that
// run Ensure or Rotate on one directory at the same moment may each create a
// key, and the loser's tokens fail until it restarts.
func lockDir(string) (func(), error) { return func() {}, nil }
